"""Which requests are Container Service's own output uploads.

XNAT's Container Service uploads a container's outputs in-process, not over REST:
`ContainerFinalizeServiceImpl` calls `CatalogService.insertResources`, and
`DefaultCatalogService.insertExperimentResourceCatalog` puts an assessor's resource under
`ASSESSORS/<label>/`, where a client's REST upload goes under `ASSESSORS/<assessor ID>/`
(`archive.assessor_folder`). The sandbox's Container Service finalizes through its own REST
routes, with an alias token it never gives the container; the routes ask here whether the
caller's token is one of those. A container's own REST calls (with `XNAT_USER`/`XNAT_PASS`)
are a client's, as on XNAT.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_finalizing_aliases: set[str] = set()


def register(alias: str) -> None:
    """Mark `alias` as the token of the Container Service's own calls for one launch."""
    with _lock:
        _finalizing_aliases.add(alias)


def unregister(alias: str) -> None:
    with _lock:
        _finalizing_aliases.discard(alias)


def is_container_service(alias: str | None) -> bool:
    """Whether a request authenticated with `alias` is the Container Service's own."""
    if not alias:
        return False
    with _lock:
        return alias in _finalizing_aliases
