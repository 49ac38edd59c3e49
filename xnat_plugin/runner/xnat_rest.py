"""The few XNAT REST calls the runner makes, over one authenticated HTTP session.

Reads (`get_json`) build the XNAT object JSON for resolution; writes create output resources,
upload files and PUT assessor XML during finalization. Any XNAT works (a real one or the
sandbox); credentials stay in the session object and never reach a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import requests

from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 120


class NotFoundError(UserError):
    """An XNAT path that answered 404."""


class JsonGetter(Protocol):
    """Anything that can GET a JSON document from an XNAT path (xnatpy's session can too)."""

    def get_json(self, uri: str, query: Mapping[str, str] | None = None) -> Any: ...


class XnatRest:
    """An authenticated HTTP session against one XNAT."""

    def __init__(self, url: str, user: str, password: str, *, verify: bool = True) -> None:
        self.url = url.rstrip("/")
        self.user = user
        self._session = requests.Session()
        self._session.auth = (user, password)
        self._session.verify = verify

    def __repr__(self) -> str:  # never show the password
        return f"XnatRest({self.url!r}, user={self.user!r})"

    def close(self) -> None:
        self._session.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else f"{self.url}{path}"
        try:
            response = self._session.request(method, url, timeout=TIMEOUT_SECONDS, **kwargs)
        except requests.RequestException as exc:
            raise UserError(
                f"cannot reach XNAT at {self.url} ({type(exc).__name__}); "
                "check --xnat and that the server is running"
            ) from exc
        if response.status_code == 404:
            raise NotFoundError(f"XNAT has nothing at {path} (404); check the URI")
        if response.status_code in (401, 403):
            raise UserError(
                f"XNAT at {self.url} refused {method} {path} ({response.status_code}); "
                "check the user name, password and project permissions"
            )
        if response.status_code >= 400:
            raise UserError(
                f"XNAT answered {response.status_code} to {method} {path}: "
                f"{response.text.strip()[:300]}"
            )
        return response

    def get_json(self, uri: str, query: Mapping[str, str] | None = None) -> Any:
        params = {"format": "json", **(query or {})}
        return self._request("GET", uri, params=params).json()

    def get_text(self, uri: str, query: Mapping[str, str] | None = None) -> str:
        return self._request("GET", uri, params=dict(query or {})).text

    def download(self, uri: str, destination: Path) -> None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        response = self._request("GET", uri, stream=True)
        with destination.open("wb") as handle:
            for chunk in response.iter_content(chunk_size=1 << 20):
                handle.write(chunk)

    def put(
        self, uri: str, query: Mapping[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        return self._request("PUT", uri, params=dict(query or {}), **kwargs)

    def post(
        self, uri: str, query: Mapping[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        return self._request("POST", uri, params=dict(query or {}), **kwargs)

    def delete(self, uri: str) -> requests.Response:
        return self._request("DELETE", uri)

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
            self._request("GET", f"/data/services/tokens/invalidate/{quote(alias)}/{quote(secret)}")
        except UserError as exc:
            log.warning("could not invalidate alias token (%s)", type(exc).__name__)

    # ----- writes used by finalization

    def create_resource(self, parent_uri: str, label: str, query: Mapping[str, str]) -> None:
        """Make resource `label` on the object at `parent_uri` (no error if it exists)."""
        path = f"{data_path(parent_uri)}/resources/{quote(label)}"
        try:
            self.put(path, query)
        except UserError as exc:
            if "409" not in str(exc):
                raise

    def upload_file(self, parent_uri: str, label: str, relative_path: str, file: Path) -> None:
        """Upload one file into resource `label`, keeping its relative path."""
        path = (
            f"{data_path(parent_uri)}/resources/{quote(label)}/files/"
            f"{quote(relative_path, safe='/')}"
        )
        with file.open("rb") as handle:
            self.put(path, {"inbody": "true", "overwrite": "true"}, data=handle)

    def put_assessor_xml(self, session_uri: str, label: str, xml: bytes) -> str:
        """Create (or update) an assessor of the session from its XML; returns its ID."""
        path = f"{data_path(session_uri)}/assessors/{quote(label)}"
        response = self.put(
            path,
            {"inbody": "true", "allowDataDeletion": "false"},
            data=xml,
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
