"""Servers: the list (its rows follow WatchServers live, through server-sent events), the
launch wizard, details with actions and the console log, delete."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc
from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dashboard import i18n
from dashboard.auth import require_user
from dashboard.i18n import N_, _
from dashboard.web import back, enum_label, env, flash, language_of, list_page, redirect, render
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.image.v1 import image_service_pb2 as ipb

MAX_COUNT = 10
# The form's action: its label, the RPC and the RPC's request message.
ACTIONS = {
    "stop": (N_("Stop"), "StopServer", cpb.StopServerRequest),
    "start": (N_("Start"), "StartServer", cpb.StartServerRequest),
    "reboot": (N_("Reboot"), "RebootServer", cpb.RebootServerRequest),
    "pause": (N_("Pause"), "PauseServer", cpb.PauseServerRequest),
    "unpause": (N_("Unpause"), "UnpauseServer", cpb.UnpauseServerRequest),
    "suspend": (N_("Suspend"), "SuspendServer", cpb.SuspendServerRequest),
    "resume": (N_("Resume"), "ResumeServer", cpb.ResumeServerRequest),
}


def status(server: cpb.Server) -> str:
    return enum_label(cpb.ServerStatus, server.status, "SERVER_STATUS_").upper()


def task(server: cpb.Server) -> str:
    name = enum_label(cpb.TaskState, server.task_state, "TASK_STATE_")
    return "" if name in ("unspecified", "none") else name


DESCRIBE = {"status": status, "task": task}


async def server_list(request: Request) -> Response:
    user = require_user(request)
    call = request.app.state.api.compute.ListServers
    reply, paging = await list_page(request, user, call, cpb.ListServersRequest, "name")
    listing = paging["listing"]
    # The live feed starts where this page's data ends, so no change falls between them.
    revision = max((s.revision for s in reply.servers), default=0)
    return render(
        request,
        "servers.html",
        servers=reply.servers,
        revision=revision,
        live_insert=not listing.q and not listing.page_token,
        describe=DESCRIBE,
        **paging,
    )


async def server_events(request: Request) -> Response:
    """Server-sent events from the user's own WatchServers stream: each change is the row as
    the list renders it (escaped like the page), keyed by the server's id."""
    user = require_user(request)
    since = request.headers.get("last-event-id") or request.query_params.get("since", "0")
    since_revision = int(since) if since.isdigit() else 0
    language = language_of(request)
    row = env.get_template("_server_row.html")
    stream = request.app.state.api.compute.WatchServers(
        cpb.WatchServersRequest(since_revision=since_revision), metadata=user.metadata
    )

    async def events() -> AsyncIterator[dict[str, str]]:
        i18n.use(language)
        try:
            async for change in stream:
                server = change.server
                yield {
                    "event": "server",
                    "id": str(change.revision),
                    "data": json.dumps(
                        {
                            "id": server.id,
                            "status": status(server),
                            "html": row.render(server=server, describe=DESCRIBE),
                        }
                    ),
                }
        except grpc.aio.AioRpcError as error:
            # The controller ended the feed (token revoked or expired, the controller going
            # away): the page stops listening and reloads, showing what is true now.
            yield {"event": "ended", "data": error.code().name}
        finally:
            stream.cancel()

    return EventSourceResponse(events(), ping=15)


async def launch_page(request: Request) -> Response:
    user = require_user(request)
    api = request.app.state.api
    images = await api.image.ListImages(
        ipb.ListImagesRequest(status=ipb.IMAGE_STATUS_ACTIVE, page_size=200), metadata=user.metadata
    )
    flavors = await api.compute.ListFlavors(
        cpb.ListFlavorsRequest(page_size=200), metadata=user.metadata
    )
    keys = await api.compute.ListKeyPairs(
        cpb.ListKeyPairsRequest(page_size=200), metadata=user.metadata
    )
    return render(
        request,
        "launch.html",
        images=images.images,
        flavors=flavors.flavors,
        key_pairs=keys.key_pairs,
        max_count=MAX_COUNT,
    )


async def launch(request: Request) -> Response:
    user = require_user(request)
    form = await request.form()
    name = str(form.get("name", "")).strip()
    count_text = str(form.get("count", "1"))
    count = int(count_text) if count_text.isdigit() else 0
    if not 1 <= count <= MAX_COUNT:
        flash(request, _("Count must be between 1 and %(max)s.", max=MAX_COUNT), "error")
        return back(request, "/servers/launch")
    user_data = str(form.get("user_data", "")).encode()
    for index in range(1, count + 1):
        await request.app.state.api.compute.CreateServer(
            cpb.CreateServerRequest(
                server=cpb.Server(
                    name=f"{name}-{index}" if count > 1 else name,
                    image_id=str(form.get("image_id", "")),
                    flavor_id=str(form.get("flavor_id", "")),
                    key_name=str(form.get("key_name", "")),
                    user_data=user_data,
                )
            ),
            metadata=user.metadata,
        )
    flash(request, i18n.ngettext_("%(num)d server launched.", "%(num)d servers launched.", count))
    return redirect("/servers")


async def server_detail(request: Request) -> Response:
    user = require_user(request)
    server = await request.app.state.api.compute.GetServer(
        cpb.GetServerRequest(id=request.path_params["server_id"]), metadata=user.metadata
    )
    return render(request, "server.html", server=server, describe=DESCRIBE, actions=ACTIONS)


async def console_log(request: Request) -> Response:
    user = require_user(request)
    api = request.app.state.api
    server_id = request.path_params["server_id"]
    server = await api.compute.GetServer(cpb.GetServerRequest(id=server_id), metadata=user.metadata)
    output = await api.compute.GetConsoleOutput(
        cpb.GetConsoleOutputRequest(server_id=server_id, lines=200), metadata=user.metadata
    )
    return render(request, "console_log.html", server=server, output=output.output)


async def server_action(request: Request) -> Response:
    user = require_user(request)
    form = await request.form()
    action = ACTIONS.get(str(form.get("action", "")))
    server_id = request.path_params["server_id"]
    if action is None:
        flash(request, _("Unknown action."), "error")
        return back(request)
    _label, method, message = action
    call = getattr(request.app.state.api.compute, method)
    await call(message(id=server_id), metadata=user.metadata)
    return back(request, f"/servers/{server_id}")


async def server_delete(request: Request) -> Response:
    user = require_user(request)
    await request.app.state.api.compute.DeleteServer(
        cpb.DeleteServerRequest(id=request.path_params["server_id"]), metadata=user.metadata
    )
    flash(request, _("Server deleted."))
    return redirect("/servers")


routes = [
    Route("/servers", server_list, methods=["GET"]),
    Route("/servers/events", server_events, methods=["GET"]),
    Route("/servers/launch", launch_page, methods=["GET"]),
    Route("/servers/launch", launch, methods=["POST"]),
    Route("/servers/{server_id}", server_detail, methods=["GET"]),
    Route("/servers/{server_id}/console-log", console_log, methods=["GET"]),
    Route("/servers/{server_id}/action", server_action, methods=["POST"]),
    Route("/servers/{server_id}/delete", server_delete, methods=["POST"]),
]
