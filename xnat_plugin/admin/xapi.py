"""HTTP calls to any XNAT's `/xapi` and `/data` with the answers an admin meets turned into
one clear line each (wrong password, missing role, missing object).

Only `requests` and basic auth: the same calls work against a real XNAT and the sandbox.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import requests

from xnat_plugin.client.credentials import resolve_credentials
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

TIMEOUT_S = 60


class Xapi:
    """A logged-in connection to one XNAT; every method raises UserError on refusal."""

    def __init__(self, url: str, user: str | None = None, password: str | None = None) -> None:
        self.url = url.rstrip("/")
        credentials = resolve_credentials(self.url, user, password)
        self.user = credentials.user
        self.session = requests.Session()
        self.session.auth = (credentials.user, credentials.password)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Xapi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- raw calls ------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        ok: tuple[int, ...] = (200, 201, 204),
        **kwargs: Any,
    ) -> requests.Response:
        """Send one call; `what` names the action for the error line ("register command X")."""
        url = f"{self.url}{path}"
        try:
            response = self.session.request(method, url, timeout=TIMEOUT_S, **kwargs)
        except requests.ConnectionError as exc:
            raise UserError(
                f"cannot reach XNAT at {self.url} to {what}: is the server running and the "
                f"URL right? ({type(exc).__name__})"
            ) from exc
        if response.status_code in ok:
            return response
        self._raise_for(response, what)
        return response  # pragma: no cover (the line above always raises)

    def _raise_for(self, response: requests.Response, what: str) -> None:
        code = response.status_code
        body = response.text.strip().replace("\n", " ")[:300]
        if code == 401:
            raise UserError(
                f"XNAT at {self.url} refused the credentials for user {self.user} (401): check "
                "--user/--password, XNAT_USER/XNAT_PASS or ~/.netrc"
            )
        if code == 403:
            raise UserError(
                f"user {self.user} may not {what} on XNAT at {self.url} (403): this needs the "
                "Container Manager or site admin role (or project owner for project settings); "
                "ask a site admin"
            )
        if code == 404:
            raise UserError(f"cannot {what}: XNAT at {self.url} has no such object (404) {body}")
        raise UserError(f"cannot {what}: XNAT at {self.url} answered {code}: {body}")

    def get_json(self, path: str, *, what: str, **kwargs: Any) -> Any:
        response = self.request("GET", path, what=what, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise UserError(
                f"cannot {what}: XNAT at {self.url} did not answer JSON for {path}"
            ) from exc

    def post_json(self, path: str, body: Any, *, what: str, **kwargs: Any) -> requests.Response:
        return self.request(
            "POST",
            path,
            what=what,
            data=json.dumps(body),
            headers={"Content-Type": "application/json"},
            **kwargs,
        )

    def check_login(self) -> None:
        """Fail early with the 401 line instead of on the first real call."""
        self.request("GET", "/data/auth", what="log in")
