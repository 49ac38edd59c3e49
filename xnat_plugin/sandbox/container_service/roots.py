"""The object a launch's root value names, for its workflow (`ContainerServiceImpl
.createContainerWorkflow` asks `CatalogService.getResourceDataFromUri`): a scan's workflow
hangs on its session with the scan's ID, a resource's on the object that holds it."""

from __future__ import annotations

from xnat_plugin.sandbox.archive import data_segments
from xnat_plugin.sandbox.container_service.launcher import RootItem
from xnat_plugin.sandbox.data_path import BadPath, parse_data_path
from xnat_plugin.sandbox.db import Database
from xnat_plugin.sandbox.resolve import resolve


def locate_root(db: Database, uri: str) -> RootItem | None:
    """The root object of `uri` (any user may not see it: the launch checks that later), or
    None when the value names no object."""
    try:
        path = parse_data_path(data_segments(uri))
        if path.collection is not None or path.file_path is not None:
            return None
        found = resolve(db, path, None)
    except (BadPath, ValueError):
        return None
    except Exception as exc:  # resolve answers a missing object with an HTTPException
        if getattr(exc, "status_code", None) is None:
            raise
        return None
    for row in (found.assessor, found.experiment):
        if row is not None:
            scan = found.scan if row is found.experiment else None
            return RootItem(
                item_id=str(row["id"]),
                data_type=str(row["xsi_type"]),
                project=str(row["project"]),
                scan_id=str(scan["id"]) if scan is not None else None,
            )
    if found.subject is not None:
        return RootItem(str(found.subject["id"]), "xnat:subjectData", str(found.subject["project"]))
    if found.project is not None:
        project = str(found.project["id"])
        return RootItem(project, "xnat:projectData", project)
    return None
