"""Logging in the XNAT way: `/data/services/auth`, `/data/JSESSION`, `/data/auth`, alias tokens."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from xnat_plugin.sandbox import auth
from xnat_plugin.sandbox.auth import CurrentUser

router = APIRouter()


def _with_cookie(response: Response, jsession: str) -> Response:
    response.set_cookie("JSESSIONID", jsession, httponly=True, path="/")
    return response


@router.api_route("/data/services/auth", methods=["PUT", "POST"])
async def services_auth(request: Request) -> Response:
    """Form fields username/password → the new session id as the body and a JSESSIONID cookie."""
    body = (await request.body()).decode("utf-8", "replace")
    form = {k: v[0] for k, v in parse_qs(body).items()}
    form.update({k: v for k, v in request.query_params.items() if k in ("username", "password")})
    login, password = form.get("username", ""), form.get("password", "")
    db = request.app.state.db
    user = auth.check_password(db, login, password) or auth.check_alias_token(db, login, password)
    if user is None:
        return Response(
            "<h3>Login attempt failed. Please try again.</h3>",
            status_code=401,
            media_type="text/html",
        )
    jsession = auth.open_web_session(db, user)
    return _with_cookie(Response(jsession, media_type="text/plain"), jsession)


@router.get("/data/JSESSION")
def get_jsession(request: Request, user: CurrentUser) -> Response:
    jsession = request.cookies.get("JSESSIONID")
    db = request.app.state.db
    if not (jsession and auth.session_user(db, jsession)):
        jsession = auth.open_web_session(db, user)
    assert jsession is not None
    return _with_cookie(Response(jsession, media_type="text/plain"), jsession)


@router.delete("/data/JSESSION")
def delete_jsession(request: Request) -> Response:
    jsession = request.cookies.get("JSESSIONID")
    if jsession:
        auth.close_web_session(request.app.state.db, jsession)
    response = Response(status_code=200)
    response.delete_cookie("JSESSIONID", path="/")
    return response


@router.get("/data/auth")
def check_auth(user: CurrentUser) -> Response:
    return Response(f"User '{user.login}' is logged in", media_type="text/plain")


@router.get("/data/services/tokens/issue")
def issue_token(request: Request, user: CurrentUser) -> JSONResponse:
    alias, secret = auth.issue_alias_token(user.login, request.app.state.db)
    return JSONResponse(
        {
            "alias": alias,
            "secret": secret,
            "xdatUserId": user.login,
            "singleUse": False,
            "enabled": True,
        }
    )


@router.get("/data/services/tokens/issue/user/{login}")
def issue_token_for(login: str, request: Request, user: CurrentUser) -> JSONResponse:
    if not user.is_admin:
        raise HTTPException(403, "only administrators issue tokens for other users")
    if auth.load_user(request.app.state.db, login) is None:
        raise HTTPException(404, f"user {login} not found")
    alias, secret = auth.issue_alias_token(login, request.app.state.db)
    return JSONResponse({"alias": alias, "secret": secret, "xdatUserId": login})


@router.get("/data/services/tokens/validate/{alias}/{secret}")
def validate_token(alias: str, secret: str, request: Request, user: CurrentUser) -> JSONResponse:  # noqa: ARG001
    owner = auth.check_alias_token(request.app.state.db, alias, secret)
    if owner is None:
        raise HTTPException(404, "token not valid")
    return JSONResponse({"valid": owner.login})


@router.get("/data/services/tokens/invalidate/{alias}/{secret}")
def invalidate_token(alias: str, secret: str, request: Request, user: CurrentUser) -> Response:
    db = request.app.state.db
    owner = auth.check_alias_token(db, alias, secret)
    if owner is None:
        raise HTTPException(404, "token not found")
    if owner.login != user.login and not user.is_admin:
        raise HTTPException(403, "a token can only be invalidated by its owner or an admin")
    auth.revoke_alias_token(alias, db)
    return Response(status_code=200)
