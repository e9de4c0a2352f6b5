"""Sign in (user, password, project), switch project, sign out (the token is revoked), and the
language of the pages."""

from __future__ import annotations

import grpc
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dashboard import i18n
from dashboard.auth import current_user, require_user, sign_in, sign_out
from dashboard.web import back, flash, redirect, render
from stratus.identity.v1 import identity_service_pb2 as ipb


def _safe_next(target: str) -> str:
    """Only a path on this site: never an open redirect."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


async def login_page(request: Request) -> Response:
    if current_user(request) is not None:
        return redirect("/")
    return render(request, "login.html", next=_safe_next(request.query_params.get("next", "/")))


async def _issue(request: Request, user: str, password: str, project: str) -> None:
    api = request.app.state.api
    reply = await api.identity.IssueToken(
        ipb.IssueTokenRequest(user_name=user, password=password, project_name=project)
    )
    sign_in(request, reply.token, reply.info)


async def login(request: Request) -> Response:
    form = await request.form()
    try:
        await _issue(
            request,
            str(form.get("user", "")),
            str(form.get("password", "")),
            str(form.get("project", "")),
        )
    except grpc.aio.AioRpcError as error:
        if error.code() not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT):
            raise
        flash(request, i18n._("Wrong user name, password or project."), "error")
        return redirect("/login")
    if not request.session["project_id"]:
        await _revoke(request)
        sign_out(request)
        flash(request, i18n._("Name a project to work in."), "error")
        return redirect("/login")
    return redirect(_safe_next(str(form.get("next", "/"))))


async def _revoke(request: Request) -> None:
    token = request.session["token"]
    await request.app.state.api.identity.RevokeToken(
        ipb.RevokeTokenRequest(token=token), metadata=(("authorization", f"Bearer {token}"),)
    )


async def logout(request: Request) -> Response:
    if current_user(request) is not None:
        try:
            await _revoke(request)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAUTHENTICATED:  # already gone: nothing to do
                raise
    sign_out(request)
    return redirect("/login")


async def switch_project(request: Request) -> Response:
    """A token for another project of the user's. The API has no token-for-token exchange, so
    the password is asked again; the old token is revoked once the new one is issued."""
    user = require_user(request)
    form = await request.form()
    old = user.token
    try:
        await _issue(
            request, user.user_name, str(form.get("password", "")), str(form.get("project", ""))
        )
    except grpc.aio.AioRpcError as error:
        if error.code() not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT):
            raise
        flash(request, i18n._("Wrong password or project."), "error")
        return back(request)
    await request.app.state.api.identity.RevokeToken(
        ipb.RevokeTokenRequest(token=old), metadata=user.metadata
    )
    return redirect("/")


async def projects_page(request: Request) -> Response:
    user = require_user(request)
    reply = await request.app.state.api.identity.ListProjects(
        ipb.ListProjectsRequest(user_id=user.user_id, page_size=200), metadata=user.metadata
    )
    return render(request, "switch_project.html", projects=reply.projects)


async def set_language(request: Request) -> Response:
    form = await request.form()
    language = str(form.get("language", ""))
    if language in i18n.LANGUAGES:
        request.session["language"] = language
    return back(request)


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/project", projects_page, methods=["GET"]),
    Route("/project", switch_project, methods=["POST"]),
    Route("/language", set_language, methods=["POST"]),
]
