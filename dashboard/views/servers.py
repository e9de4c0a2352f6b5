"""Servers: the list (its rows follow WatchServers live, through server-sent events), the
launch wizard, details with actions and the console log, delete."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
from sse_starlette.sse import EventSourceResponse
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dashboard import i18n
from dashboard.auth import User, require_user
from dashboard.i18n import N_, _
from dashboard.security import with_frame_source
from dashboard.views import consoles
from dashboard.web import back, enum_label, env, flash, language_of, list_page, redirect, render
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.image.v1 import image_service_pb2 as ipb
from stratus.network.v1 import network_service_pb2 as npb

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
    networks, groups = [], []
    if request.app.state.optional_pages["networks"]:
        networks = (
            await api.network.ListNetworks(
                npb.ListNetworksRequest(page_size=200), metadata=user.metadata
            )
        ).networks
        groups = (
            await api.network.ListSecurityGroups(
                npb.ListSecurityGroupsRequest(page_size=200), metadata=user.metadata
            )
        ).security_groups
    return render(
        request,
        "launch.html",
        images=images.images,
        flavors=flavors.flavors,
        key_pairs=keys.key_pairs,
        networks=networks,
        security_groups=groups,
        max_count=MAX_COUNT,
    )


async def interface(
    request: Request, user: User, form: FormData, name: str
) -> tuple[dict[str, Any], str]:
    """The CreateServer fields for the wizard's network step: the chosen network, none, or
    the automatic choice; with security groups chosen, a port in them on that network (the
    API takes groups per port), which stays the user's after the server is deleted; `made`
    names that port, for removal should the server be refused."""
    network_id = str(form.get("network_id", ""))
    if network_id == "none":
        return {"no_network": True}, ""
    if not network_id:
        return {}, ""
    group_ids = [str(g) for g in form.getlist("security_group_id")]
    if not group_ids:
        return {"networks": [cpb.ServerNetwork(network_id=network_id)]}, ""
    port = await request.app.state.api.network.CreatePort(
        npb.CreatePortRequest(
            port=npb.Port(name=name, network_id=network_id, security_group_ids=group_ids)
        ),
        metadata=user.metadata,
    )
    return {"networks": [cpb.ServerNetwork(port_id=port.id)]}, port.id


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
        server_name = f"{name}-{index}" if count > 1 else name
        nics, made = await interface(request, user, form, server_name)
        try:
            await request.app.state.api.compute.CreateServer(
                cpb.CreateServerRequest(
                    server=cpb.Server(
                        name=server_name,
                        image_id=str(form.get("image_id", "")),
                        flavor_id=str(form.get("flavor_id", "")),
                        key_name=str(form.get("key_name", "")),
                        user_data=user_data,
                        **nics,
                    )
                ),
                metadata=user.metadata,
            )
        except grpc.aio.AioRpcError:
            if made:
                await request.app.state.api.network.DeletePort(
                    npb.DeletePortRequest(id=made), metadata=user.metadata
                )
            raise
    flash(request, i18n.ngettext_("%(num)d server launched.", "%(num)d servers launched.", count))
    return redirect("/servers")


async def server_detail(request: Request) -> Response:
    user = require_user(request)
    server = await request.app.state.api.compute.GetServer(
        cpb.GetServerRequest(id=request.path_params["server_id"]), metadata=user.metadata
    )
    console = await consoles.novnc(request, user, server)
    page = render(
        request,
        "server.html",
        server=server,
        describe=DESCRIBE,
        actions=ACTIONS,
        console_url=console.url,
        console_error=console.error,
    )
    if console.origin:
        page.headers["content-security-policy"] = with_frame_source(console.origin)
    return page


async def console_window(request: Request) -> Response:
    """The console in its own window: a fresh URL each time (its token opens one connection)."""
    user = require_user(request)
    server = await request.app.state.api.compute.GetServer(
        cpb.GetServerRequest(id=request.path_params["server_id"]), metadata=user.metadata
    )
    console = await consoles.novnc(request, user, server)
    if not console.url:
        flash(request, console.error or _("The server is not active."), "error")
        return redirect(f"/servers/{server.id}")
    return redirect(console.url)


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
    Route("/servers/{server_id}/console", console_window, methods=["GET"]),
    Route("/servers/{server_id}/action", server_action, methods=["POST"]),
    Route("/servers/{server_id}/delete", server_delete, methods=["POST"]),
]
