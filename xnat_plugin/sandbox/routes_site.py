"""What clients read about the site: version, build info, schemas, searchable data types."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from xnat_plugin.sandbox.auth import CurrentUser, authenticate, open_web_session
from xnat_plugin.sandbox.listing import result_set
from xnat_plugin.sandbox.xml_validation import SCHEMA_FILES

router = APIRouter()
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
SEARCHABLE_TYPES = [
    ("xnat:projectData", "Project", "Projects"),
    ("xnat:subjectData", "Subject", "Subjects"),
    ("xnat:ctSessionData", "CT Session", "CT Sessions"),
    ("xnat:mrSessionData", "MR Session", "MR Sessions"),
    ("xnat:ctScanData", "CT Scan", "CT Scans"),
    ("xnat:mrScanData", "MR Scan", "MR Scans"),
    ("xnat:qcAssessmentData", "QC Assessment", "QC Assessments"),
    ("icr:roiCollectionData", "ROI Collection", "ROI Collections"),
]


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


@router.get("/data/search/elements")
def search_elements(request: Request, user: CurrentUser) -> Response:  # noqa: ARG001
    rows = [
        {"ELEMENT_NAME": t, "SINGULAR": s, "PLURAL": p, "COUNT": "0", "SECURED": "true"}
        for t, s, p in SEARCHABLE_TYPES
    ]
    return result_set(rows, request.query_params.get("format"), "Search elements")


@router.get("/data/search/elements/{xsi_type}")
def search_element_fields(xsi_type: str, request: Request, user: CurrentUser) -> Response:  # noqa: ARG001
    if xsi_type not in {t for t, _, _ in SEARCHABLE_TYPES}:
        raise HTTPException(404, f"data type {xsi_type} not found")
    base = ["ID", "LABEL", "PROJECT", "INSERT_DATE", "INSERT_USER"]
    rows = [
        {
            "FIELD_ID": f,
            "HEADER": f.title(),
            "SUMMARY": f,
            "TYPE": "string",
            "REQUIRES_VALUE": "false",
            "DESC": f,
            "ELEMENT_NAME": xsi_type,
            "SRC": "0",
            "XPATH": f"{xsi_type}/{f.lower()}",
        }
        for f in base
    ]
    return result_set(rows, request.query_params.get("format"), xsi_type)
