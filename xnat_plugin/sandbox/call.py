"""One data request as the handlers see it: who, what path, which query fields, which body."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from xnat_plugin.sandbox.auth import User
from xnat_plugin.sandbox.data_path import DataPath
from xnat_plugin.sandbox.db import Database
from xnat_plugin.sandbox.limits import Limits


@dataclass
class Call:
    method: str
    path: DataPath
    query: dict[str, str]
    user: User
    db: Database
    data_dir: Path
    # A request body spooled to disk (uploads, XML documents); None when there was none.
    body_file: Path | None = None
    body_name: str | None = None  # the file name of a multipart upload
    content_type: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)

    @property
    def fmt(self) -> str | None:
        return self.query.get("format")

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("true", "1", "yes")

    def body_bytes(self, limit: int = 16 * 1024 * 1024) -> bytes:
        """A small body (an XML document) as bytes; uploads are streamed, never read whole."""
        if self.body_file is None:
            return b""
        with self.body_file.open("rb") as handle:
            return handle.read(limit)

    def values_for(self, family: str, xsi_type: str) -> dict[str, str]:
        """The values this PUT sets on an object of `xsi_type` (`field_paths.accept`): shortcuts
        and XML paths, typed; a value of the wrong kind is 400."""
        from fastapi import HTTPException

        from xnat_plugin.sandbox.field_paths import BadValue, accept

        try:
            return accept(family, xsi_type, self.query)
        except BadValue as exc:
            raise HTTPException(400, str(exc)) from exc

    def fields_for(self, xsi_type: str | None, *prefixes: str) -> dict[str, str]:
        """Object fields from the query string, the way xnatpy and pyxnat send them:
        `xnat:ctSessionData/modality=CT`, `modality=CT`, `label=…` (XNAT's `req_format=qs`)."""
        skip = {
            "xsiType",
            "xsitype",
            "req_format",
            "format",
            "inbody",
            "overwrite",
            "columns",
            "event_reason",
            "event_type",
            "event_action",
            "allowDataDeletion",
            "removeFiles",
            "extract",
            "content",
            "file_format",
            "file_content",
            "tags",
            "content_type",
        }
        found: dict[str, str] = {}
        types = {t for t in (xsi_type, *prefixes) if t}
        for key, value in self.query.items():
            if key in skip:
                continue
            if "/" in key:
                head, _, rest = key.partition("/")
                if head not in types and not head.startswith(("xnat:", "icr:")):
                    continue
                key = rest
            found[key] = value
        return found
