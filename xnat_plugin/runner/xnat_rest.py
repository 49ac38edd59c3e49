"""The XNAT calls the runner makes, on top of the client layer's connection.

Reads (`get_json`) build the XNAT object JSON for resolution; writes create output resources,
upload files (checked by MD5 through `client.transfer`) and PUT assessor XML during
finalization. Any XNAT works (a real one or the sandbox); retries, error messages and keeping
the password out of logs come from `client.connection.XnatClient`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from xnat_plugin.client import transfer
from xnat_plugin.client.connection import XnatClient, XnatNotFoundError
from xnat_plugin.client.credentials import Credentials
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

# A 404 from XNAT (the client layer's error, under the name the runner uses).
NotFoundError = XnatNotFoundError


class JsonGetter(Protocol):
    """Anything that can GET a JSON document from an XNAT path (xnatpy's session can too)."""

    def get_json(self, uri: str, query: Mapping[str, str] | None = None, /) -> Any: ...


class XnatRest(XnatClient):
    """A connection to one XNAT as one user (a password or an alias token's secret)."""

    def __init__(self, url: str, user: str, password: str, *, verify: bool = True) -> None:
        super().__init__(url, Credentials(user, password, "runner"), verify=verify)

    def download(self, uri: str, destination: Path) -> None:
        transfer.download_file(self, data_path(uri), destination)

    # ----- alias tokens (what a container authenticates with)

    def issue_alias_token(self) -> tuple[str, str] | None:
        """A new (alias, secret) acting as this user, or None if the XNAT cannot issue one."""
        try:
            token = self.get_json("/data/services/tokens/issue")
        except UserError as exc:
            log.warning("XNAT at %s issued no alias token (%s)", self.url, type(exc).__name__)
            return None
        if not isinstance(token, dict) or not token.get("alias") or not token.get("secret"):
            return None
        return str(token["alias"]), str(token["secret"])

    def invalidate_alias_token(self, alias: str, secret: str) -> None:
        try:
            self.get(f"/data/services/tokens/invalidate/{quote(alias)}/{quote(secret)}")
        except UserError as exc:
            log.warning("could not invalidate alias token (%s)", type(exc).__name__)

    # ----- writes used by finalization

    def create_resource(self, parent_uri: str, label: str, query: Mapping[str, str]) -> None:
        """Make resource `label` on the object at `parent_uri` (no error if it exists)."""
        transfer.ensure_resource(self, data_path(parent_uri), label, **query)

    def upload_file(self, parent_uri: str, label: str, relative_path: str, file: Path) -> None:
        """Upload one file into resource `label`, keeping its relative path."""
        transfer.upload_file(self, data_path(parent_uri), label, relative_path, file)

    def upload_folder(
        self, parent_uri: str, label: str, folder: Path, query: Mapping[str, str]
    ) -> None:
        """Upload every file under `folder` (sub-folders kept), checked by MD5."""
        transfer.upload_folder(
            self, data_path(parent_uri), label, folder, resource_params=query, show_progress=False
        )

    def put_assessor_xml(self, session_uri: str, label: str, xml: bytes) -> str:
        """Create (or update, same label or ID) an assessor of the session from its XML;
        returns what XNAT answers (the assessor's ID)."""
        response = self.put(
            f"{data_path(session_uri)}/assessors/{quote(label)}",
            {"inbody": "true"},
            body=xml,
            headers={"Content-Type": "text/xml"},
        )
        return response.text.strip()


def data_path(uri: str) -> str:
    """`/archive/experiments/E` or `/experiments/E` → `/data/experiments/E`."""
    path = uri.strip()
    for prefix in ("/data/archive", "/REST/archive", "/data", "/REST", "/archive"):
        if path.startswith(prefix + "/"):
            path = path[len(prefix) :]
            break
    return "/data" + path
