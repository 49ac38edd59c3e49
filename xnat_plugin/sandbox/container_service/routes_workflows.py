"""The workflows of launches, on the `/data` paths XNAT 1.9 serves them at.

- `GET /data/workflows/{id}` (`WorkflowResource`): the `wrk:workflowData` item, XML by
  default, `{"items": [{"meta", "data_fields", "children"}]}` with `format=json`; 404
  "Unable to find the specified workflow." otherwise.
- `GET /data/services/workflows/{pipeline}` (`WorkflowsRestlet`): with `experiment=ID`, that
  experiment's workflows of the pipeline (`display=ALL`: every one as a table with all fields;
  default `LATEST`: the newest as an item); without it, the newest workflow of each object
  (columns `id`, `externalid`, `pipeline_name`, `launch_time`, `jobid`, `status`, ...),
  narrowed by `project` and `status`. The pipeline name matches as a substring, as XNAT's
  `LIKE '%name%'` does.

XNAT core has no project listing of workflows (`/data/projects/P/workflows` is not a path of
its router); clients find a launch's workflow through these two.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from xnat_plugin.sandbox import catalog
from xnat_plugin.sandbox.container_service.access import CurrentUser, Service
from xnat_plugin.sandbox.container_service.records import WorkflowRow

router = APIRouter(prefix="/data")

WORKFLOW_NS = "http://nrg.wustl.edu/workflow"
NOT_FOUND = "Unable to find the specified workflow."


def workflow_item(row: WorkflowRow) -> dict[str, Any]:
    """The workflow as XNAT's JSON item representation."""
    return {
        "children": [],
        "meta": {
            "create_event_id": row.id,
            "xsi:type": "wrk:workflowData",
            "isHistory": False,
            "start_date": row.launch_time,
            "last_modified": row.last_modified,
        },
        "data_fields": row.data_fields(),
    }


def workflow_xml(row: WorkflowRow) -> str:
    attributes = " ".join(
        f"{name}={quoteattr(str(value))}"
        for name, value in row.data_fields().items()
        if name != "wrk_workflowData_id"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<wrk:Workflow {attributes} xmlns:wrk="{WORKFLOW_NS}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>\n'
    )


def _represent(request: Request, row: WorkflowRow) -> Response:
    if request.query_params.get("format", "").lower() == "json":
        return JSONResponse({"items": [workflow_item(row)]})
    return Response(workflow_xml(row), media_type="text/xml")


@router.get("/workflows/{workflow_id}", response_model=None)
def read_workflow(workflow_id: str, request: Request, user: CurrentUser, service: Service) -> Any:
    row = service.store.workflow(int(workflow_id)) if workflow_id.isdigit() else None
    if row is None:
        return PlainTextResponse(NOT_FOUND, status_code=404)
    return _represent(request, row)


def _newest_first(rows: list[WorkflowRow]) -> list[WorkflowRow]:
    return sorted(rows, key=lambda r: (r.launch_time, r.id), reverse=True)


def _latest_row(row: WorkflowRow) -> dict[str, Any]:
    """A row of WorkflowsRestlet's own query (no experiment given)."""
    return {
        "label": row.item_id,
        "id": row.item_id,
        "externalid": row.external_id,
        "pipeline_name": row.pipeline_name,
        "launch_time": row.launch_time,
        "jobid": row.job_id or "",
        "status": row.status,
        "current_step_launch_time": "",
        "current_step_id": "",
    }


@router.get("/services/workflows/{pipeline}", response_model=None)
def list_workflows(pipeline: str, request: Request, user: CurrentUser, service: Service) -> Any:
    query = request.query_params
    status = query.get("status")
    names = [n for n in pipeline.split(",") if n]
    candidates = [
        w
        for w in service.store.workflows()
        if any(n.lower() in w.pipeline_name.lower() for n in names)
        and (status is None or w.status == status)
        and (not w.external_id or user.can_read(w.external_id))
    ]
    experiment = query.get("experiment")
    found = catalog.get_experiment(service.db, query.get("project"), experiment or "")
    if experiment and found is not None and user.can_read(found["project"]):
        own = _newest_first([w for w in candidates if w.item_id == found["id"]])
        if query.get("display", "LATEST").upper() == "LATEST":
            if not own:
                message = (
                    f"Unable to find workflow entry for pipeline {pipeline} and experiment."
                    f"{found['id']}"
                )
                return PlainTextResponse(message, status_code=404)
            return _represent(request, own[0])
        rows = [w.data_fields() for w in own]
        return JSONResponse({"ResultSet": {"Result": rows, "title": "All workflows"}})
    project = query.get("project")
    latest: dict[str, WorkflowRow] = {}
    for w in _newest_first(candidates):
        if project is None or w.external_id == project:
            latest.setdefault(w.item_id, w)
    rows = [_latest_row(w) for w in sorted(latest.values(), key=lambda r: r.item_id)]
    title = f"All {status} workflows"
    return JSONResponse({"ResultSet": {"Result": rows, "title": title}})
