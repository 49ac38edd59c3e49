"""One authenticated, retrying HTTP session against one XNAT.

Plain `requests` with basic auth on every call (what pyxnat does, and what XNAT's alias tokens
are made for). Transient failures (connection refused or reset, 5xx) are retried with
exponential back-off; refusals are turned into one `UserError` line each. xnatpy is available
from `XnatClient.xnatpy()` for callers who want its object model.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

from xnat_plugin.client import paths
from xnat_plugin.client.credentials import Credentials, resolve_credentials
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 300


class XnatNotFoundError(UserError):
    """XNAT answered 404: the object is not there (or not visible to this user)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient failure is retried."""

    attempts: int = 4
    first_delay_s: float = 0.5
    max_delay_s: float = 8.0
    retry_statuses: tuple[int, ...] = (500, 502, 503, 504)

    def delay(self, attempt: int) -> float:
        return float(min(self.max_delay_s, self.first_delay_s * 2 ** (attempt - 1)))


Body = bytes | str | Path | None


class XnatClient:
    """A logged-in connection; every method raises `UserError` on refusal or missing data."""

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        *,
        retry: RetryPolicy | None = None,
        verify: bool = True,
    ) -> None:
        self.url = url.rstrip("/")
        self.user = credentials.user
        self.retry = retry or RetryPolicy()
        self._credentials = credentials
        self._session = requests.Session()
        self._session.auth = (credentials.user, credentials.password)
        self._session.verify = verify
        self._xnatpy: Any = None

    def __repr__(self) -> str:  # the password never appears
        return f"XnatClient({self.url!r}, user={self.user!r})"

    def __enter__(self) -> XnatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._xnatpy is not None:
            with contextlib.suppress(Exception):
                self._xnatpy.disconnect()
        self._session.close()

    # ------------------------------------------------------------------ requests

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        files: Mapping[str, tuple[str, IO[bytes]]] | None = None,
    ) -> requests.Response:
        """Send one request, retrying transient failures; a `Path` body is reopened per try.

        GET, PUT and DELETE are idempotent in XNAT's API and are retried on any 5xx in the
        policy and on connection errors. A POST (a launch, say) is retried only when it surely
        did not arrive: connection refused or 503, so a retry never does the work twice.
        """
        url = path if path.startswith(("http://", "https://")) else f"{self.url}{path}"
        idempotent = method.upper() != "POST"
        last_problem = ""
        for attempt in range(1, self.retry.attempts + 1):
            for _name, handle in (files or {}).values():
                if handle.seekable():
                    handle.seek(0)
            try:
                with _opened(body) as data:
                    response = self._session.request(
                        method,
                        url,
                        params=dict(params or {}),
                        data=data,
                        headers=dict(headers or {}),
                        stream=stream,
                        files=files,
                        timeout=TIMEOUT_SECONDS,
                    )
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = f"cannot reach XNAT at {self.url} ({type(exc).__name__})"
                if not idempotent and not _surely_not_sent(exc):
                    break
            else:
                retryable = self.retry.retry_statuses if idempotent else (503,)
                if response.status_code not in retryable:
                    return self._checked(method, path, response)
                last_problem = (
                    f"XNAT at {self.url} answered {response.status_code} to {method} {path}: "
                    f"{_excerpt(response)}"
                )
                response.close()
            if attempt < self.retry.attempts:
                delay = self.retry.delay(attempt)
                log.warning(
                    "%s; retrying in %.1f s (%d/%d)",
                    last_problem,
                    delay,
                    attempt,
                    self.retry.attempts,
                )
                time.sleep(delay)
        raise UserError(
            f"{last_problem} (gave up after {attempt} attempts): "
            "check that the server is running and healthy, then run again"
        )

    def _checked(self, method: str, path: str, response: requests.Response) -> requests.Response:
        status = response.status_code
        if status < 400:
            log.debug("%s %s → %d", method, path, status)
            return response
        if status == 401:
            raise UserError(
                f"XNAT at {self.url} refused the credentials for user {self.user} (401): "
                "check --user/--password or ~/.netrc"
            )
        if status == 403:
            raise UserError(
                f"XNAT at {self.url} does not let user {self.user} {method} {path} (403): "
                "ask a project owner for the needed role"
            )
        if status == 404:
            raise XnatNotFoundError(f"XNAT at {self.url} has nothing at {path} (404): check it")
        raise UserError(
            f"XNAT at {self.url} answered {status} to {method} {path}: {_excerpt(response)}"
        )

    def get(self, path: str, params: Mapping[str, str] | None = None) -> requests.Response:
        return self.request("GET", path, params=params)

    def put(
        self, path: str, params: Mapping[str, str] | None = None, **kw: Any
    ) -> requests.Response:
        return self.request("PUT", path, params=params, **kw)

    def post(
        self, path: str, params: Mapping[str, str] | None = None, **kw: Any
    ) -> requests.Response:
        return self.request("POST", path, params=params, **kw)

    def delete(self, path: str, params: Mapping[str, str] | None = None) -> requests.Response:
        return self.request("DELETE", path, params=params)

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        response = self.get(path, {"format": "json", **(params or {})})
        try:
            return response.json()
        except ValueError as exc:
            raise UserError(
                f"XNAT at {self.url} answered {path} with something that is not JSON: "
                f"{_excerpt(response)}"
            ) from exc

    def result_rows(self, path: str, params: Mapping[str, str] | None = None) -> list[dict]:
        """Rows of an XNAT listing (`{"ResultSet": {"Result": [...]}}`)."""
        document = self.get_json(path, params)
        try:
            return list(document["ResultSet"]["Result"])
        except (KeyError, TypeError) as exc:
            raise UserError(f"XNAT listing {path} has no ResultSet.Result") from exc

    def item(self, path: str) -> dict:
        """The first item of an object read (`{"items": [{"data_fields", "children"}]}`)."""
        document = self.get_json(path)
        try:
            return dict(document["items"][0])
        except (KeyError, IndexError, TypeError) as exc:
            raise UserError(f"XNAT object {path} has no items[0]") from exc

    def exists(self, path: str) -> bool:
        try:
            self.get(path, {"format": "json"})
        except XnatNotFoundError:
            return False
        return True

    def check_login(self) -> None:
        """Fail now, with the 401 message, if XNAT does not accept these credentials."""
        try:
            self.get(paths.AUTH_CHECK)
        except XnatNotFoundError:
            self.get(paths.PROJECTS, {"format": "json"})

    def xnatpy(self) -> Any:
        """An xnatpy session on the same XNAT and user (built on first use, then reused)."""
        if self._xnatpy is None:
            import xnat  # slow import: only for callers who want xnatpy's objects

            self._xnatpy = xnat.connect(
                self.url,
                user=self._credentials.user,
                password=self._credentials.password,
                verify=bool(self._session.verify),
                logger=logging.getLogger("xnat"),
            )
        return self._xnatpy


def connect(
    url: str,
    user: str | None = None,
    password: str | None = None,
    *,
    retry: RetryPolicy | None = None,
    check: bool = True,
) -> XnatClient:
    """A client for the XNAT at `url` with credentials from flags, environment or ~/.netrc."""
    if not url.startswith(("http://", "https://")):
        raise UserError(f"XNAT address {url!r} must start with http:// or https://")
    client = XnatClient(url, resolve_credentials(url, user, password), retry=retry)
    if check:
        try:
            client.check_login()
        except BaseException:
            client.close()
            raise
    log.info("connected to XNAT at %s as %s", client.url, client.user)
    return client


@contextlib.contextmanager
def _opened(body: Body) -> Iterator[bytes | str | IO[bytes] | None]:
    if isinstance(body, Path):
        with body.open("rb") as handle:
            yield handle
    else:
        yield body


def _surely_not_sent(exc: requests.RequestException) -> bool:
    """Whether the request never reached the server (refused, or no connection in time)."""
    return isinstance(exc, requests.ConnectTimeout) or "refused" in str(exc).lower()


def _excerpt(response: requests.Response) -> str:
    try:
        text = response.text
    except Exception:  # a streamed body that already failed
        return "(no readable body)"
    return " ".join(text.split())[:300] or "(empty body)"
