"""`PUT|POST /xapi/archive/upload/xml` (`CatalogApi.uploadXml`): XNAT's catalog service over
REST. The document is validated exactly as sent (see `catalog_service`).

XNAT answers every refusal of this path through `XapiRestControllerAdvice.handleClientException`,
which takes the status from the exception class's `@ResponseStatus` annotation; `ClientException`
has none, so a refused document is a 500 whose body is "There was an error in the request: "
followed by the reason. An empty body is 204 (`NoContentException`).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from xnat_plugin.sandbox.auth import CurrentUser
from xnat_plugin.sandbox.catalog_service import CatalogServiceError, insert_xml_object

router = APIRouter()
CLIENT_ERROR_PREFIX = "There was an error in the request: "
# A document larger than this is not an assessor: refuse it before parsing.
MAX_XML_BYTES = 16 * 1024 * 1024


async def _document(request: Request) -> bytes:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        try:
            item = form.get("item")
            if item is None or not hasattr(item, "read"):
                return b""
            return bytes(await item.read(MAX_XML_BYTES + 1))  # type: ignore[union-attr]
        finally:
            await form.close()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_XML_BYTES:
            break
    return body


@router.api_route("/xapi/archive/upload/xml", methods=["PUT", "POST"])
async def upload_xml(request: Request, user: CurrentUser) -> Response:
    data = await _document(request)
    if len(data) > MAX_XML_BYTES:
        raise HTTPException(413, f"an XML document is at most {MAX_XML_BYTES} bytes")
    if not data.strip():
        return Response(status_code=204)
    try:
        item = await run_in_threadpool(insert_xml_object, request.app.state.db, user, data)
    except CatalogServiceError as exc:
        raise HTTPException(500, CLIENT_ERROR_PREFIX + str(exc)) from exc
    except PermissionError as exc:
        raise HTTPException(403, str(exc)) from exc
    return Response(item.archive_uri, media_type="text/plain")
