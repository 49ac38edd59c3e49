"""What clients read about the site: version, build info, schemas; the search routes."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from xnat_plugin.sandbox import routes_search
from xnat_plugin.sandbox.auth import CurrentUser, authenticate, open_web_session
from xnat_plugin.sandbox.listing import result_set
from xnat_plugin.sandbox.xml_validation import SCHEMA_FILES

router = APIRouter()
router.include_router(routes_search.router)
XNAT_VERSION = "1.9.1"
BUILD_INFO = {
    "version": XNAT_VERSION,
    "buildNumber": "sandbox",
    "buildDate": "",
    "commit": "xnat-monai-sandbox",
    "sha": "",
    "isDirty": "false",
    "branch": "",
}


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """The landing page; xnatpy GETs it to detect redirects (and alias-token logins)."""
    user = authenticate(request)
    who = user.login if user is not None else "Guest"
    page = HTMLResponse(
        f'<html><body><span id="user_info">Logged in as: {who}</span>'
        "<h3>xnat-monai sandbox (XNAT-compatible)</h3></body></html>"
    )
    if user is not None and "JSESSIONID" not in request.cookies:
        # XNAT opens a web session for a basic-auth login; xnatpy's alias-token login reads it.
        jsession = open_web_session(request.app.state.db, user)
        page.set_cookie("JSESSIONID", jsession, httponly=True, path="/")
    return page


@router.get("/xapi/siteConfig/buildInfo")
def build_info(user: CurrentUser) -> JSONResponse:  # noqa: ARG001
    """`SiteConfigApi.getBuildInfo` (`XnatAppInfo.getSystemProperties`). XNAT 1.8 and later
    serve no `/data/version`: clients (xnatpy, pyxnat) fall back to this after its 404."""
    return JSONResponse(BUILD_INFO)


@router.get("/xapi/siteConfig/siteId")
def site_id(user: CurrentUser) -> Response:  # noqa: ARG001
    return Response("XNAT", media_type="text/plain")


@router.get("/xapi/schemas")
def list_schemas(user: CurrentUser) -> JSONResponse:  # noqa: ARG001
    return JSONResponse(sorted(SCHEMA_FILES))


@router.get("/xapi/schemas/{name:path}")
def get_schema(name: str, user: CurrentUser) -> FileResponse:  # noqa: ARG001
    key = name.removesuffix(".xsd").rsplit("/", 1)[-1]
    if key not in SCHEMA_FILES:
        raise HTTPException(
            404, f"schema {name} not found; this XNAT serves {sorted(SCHEMA_FILES)}"
        )
    return FileResponse(SCHEMA_FILES[key], media_type="application/xml")


@router.get("/schemas/{namespace}/{name}")
def get_schema_legacy(namespace: str, name: str, user: CurrentUser) -> FileResponse:
    return get_schema(f"{namespace}/{name}", user)


@router.get("/data/prearchive/projects")
@router.get("/data/prearchive/projects/{project}")
@router.get("/REST/prearchive/projects")
@router.get("/REST/prearchive/projects/{project}")
def prearchive_sessions(request: Request, user: CurrentUser, project: str = "") -> Response:  # noqa: ARG001
    """`PrearcSessionListResource`: the sessions waiting in the prearchive. This XNAT archives
    every upload directly (the import service refuses `dest=/prearchive`), so its prearchive is
    always empty, as a site's is when nothing waits there."""
    return result_set([], request.query_params.get("format"), "Prearchive")
