"""Talking to an XNAT (real or sandbox) over its REST API.

- `connect(url, user=None, password=None) -> XnatClient` (credentials: flags, environment,
  ~/.netrc; see `credentials.py`);
- `browse`: projects, sessions, scans, resources, files, assessors as typed rows;
- `transfer`: resource ⇄ folder, MD5-checked, with retries;
- `assessor_store`: create/replace an assessor from XML, read it, upload its files;
- `objects`: create projects, subjects, sessions and scans;
- `paths`: every REST path the client sends.
"""

from xnat_plugin.client.connection import RetryPolicy, XnatClient, XnatNotFoundError, connect
from xnat_plugin.client.credentials import Credentials, resolve_credentials

__all__ = [
    "Credentials",
    "RetryPolicy",
    "XnatClient",
    "XnatNotFoundError",
    "connect",
    "resolve_credentials",
]
