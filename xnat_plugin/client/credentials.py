"""Who we are at an XNAT: `--user/--password`, else `XNAT_USER/XNAT_PASS`, else `~/.netrc`.

Inside a container the Container Service sets `XNAT_USER`/`XNAT_PASS` to an alias token of the
launching user; on a workstation people keep a `~/.netrc` entry for the XNAT host. The password
lives only in `Credentials.password`, which no `repr`, log line or error message shows.
"""

from __future__ import annotations

import logging
import netrc
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

USER_VARIABLE = "XNAT_USER"
PASSWORD_VARIABLE = "XNAT_PASS"


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)
    source: str = "flags"  # flags | environment | netrc: said in logs instead of the secret

    def __str__(self) -> str:
        return f"{self.user} (from {self.source})"


def resolve_credentials(
    url: str,
    user: str | None = None,
    password: str | None = None,
    *,
    netrc_file: Path | None = None,
) -> Credentials:
    """The first complete source in order: flags, environment, `~/.netrc` entry for the host.

    A user given alone (`--user U`) narrows the later sources to that user, so the password of
    someone else is never picked up by accident.
    """
    if user and password:
        return _found(Credentials(user, password, "flags"))
    env_user, env_password = os.environ.get(USER_VARIABLE), os.environ.get(PASSWORD_VARIABLE)
    if env_user and env_password and user in (None, env_user):
        return _found(Credentials(env_user, env_password, "environment"))
    host = urlparse(url).hostname or ""
    entry = _netrc_entry(host, netrc_file)
    if entry is not None and user in (None, entry[0]):
        return _found(Credentials(entry[0], entry[1], "netrc"))
    wanted = f" for user {user}" if user else ""
    raise UserError(
        f"no credentials{wanted} for XNAT at {url}: pass --user and --password, set "
        f"{USER_VARIABLE} and {PASSWORD_VARIABLE}, or add a 'machine {host}' line to ~/.netrc"
    )


def _netrc_entry(host: str, netrc_file: Path | None) -> tuple[str, str] | None:
    path = netrc_file or Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    if not host or not path.is_file():
        return None
    try:
        entry = netrc.netrc(str(path)).authenticators(host)
    except (netrc.NetrcParseError, OSError) as exc:
        # The parse error quotes the offending line, which may hold the password: say where only.
        raise UserError(
            f"{path} cannot be read ({type(exc).__name__}): fix the file or pass --user/--password"
        ) from None
    if not entry or not entry[0] or not entry[2]:
        return None
    return entry[0], entry[2]


def _found(credentials: Credentials) -> Credentials:
    log.debug("XNAT credentials: user %s", credentials)
    return credentials
