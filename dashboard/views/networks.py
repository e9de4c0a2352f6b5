"""Networks and their subnets: list and search, create (admins also choose the provider
segment: type, physical network, segmentation id; shared, external), details with the
subnets, delete."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dashboard.auth import require_user
from dashboard.i18n import _
from dashboard.web import back, enum_label, flash, list_page, redirect, render
from stratus.network.v1 import network_service_pb2 as npb

NETWORK_TYPES = ["vxlan", "vlan", "flat"]


def network_type(network: npb.Network) -> str:
    return enum_label(npb.NetworkType, network.network_type, "NETWORK_TYPE_")


def whole_number(form: FormData, name: str) -> int | None:
    """A form's optional number: 0 when blank, None when it is not a whole number."""
    text = str(form.get(name, "")).strip()
    if not text:
        return 0
    return int(text) if text.isdigit() else None


def listed(form: FormData, name: str) -> list[str]:
    """A comma- or space-separated form field as a list."""
    return str(form.get(name, "")).replace(",", " ").split()


async def network_list(request: Request) -> Response:
    user = require_user(request)
    call = request.app.state.api.network.ListNetworks
    reply, paging = await list_page(request, user, call, npb.ListNetworksRequest, "name")
    return render(
        request,
        "networks.html",
        networks=reply.networks,
        network_types=NETWORK_TYPES,
        network_type=network_type,
        **paging,
    )


async def network_create(request: Request) -> Response:
    user = require_user(request)
    form = await request.form()
    provider: dict[str, object] = {}
    if user.is_admin:  # a member's form has no such fields; the API refuses them anyway
        segment = whole_number(form, "segmentation_id")
        if segment is None:
            flash(request, _("The segmentation ID must be a whole number."), "error")
            return back(request, "/networks")
        kind = str(form.get("network_type", ""))
        provider = {
            "network_type": f"NETWORK_TYPE_{kind.upper()}" if kind in NETWORK_TYPES else None,
            "physical_network": str(form.get("physical_network", "")).strip(),
            "segmentation_id": segment,
            "shared": form.get("shared") == "on",
            "external": form.get("external") == "on",
        }
    network = npb.Network(
        name=str(form.get("name", "")).strip(),
        description=str(form.get("description", "")),
        **provider,  # type: ignore[arg-type]
    )
    created = await request.app.state.api.network.CreateNetwork(
        npb.CreateNetworkRequest(network=network), metadata=user.metadata
    )
    flash(request, _("Network %(name)s created.", name=created.name))
    return redirect(f"/networks/{created.id}")


async def network_detail(request: Request) -> Response:
    user = require_user(request)
    api = request.app.state.api
    network = await api.network.GetNetwork(
        npb.GetNetworkRequest(id=request.path_params["network_id"]), metadata=user.metadata
    )
    subnets = await api.network.ListSubnets(
        npb.ListSubnetsRequest(network_id=network.id, page_size=200), metadata=user.metadata
    )
    return render(
        request,
        "network.html",
        network=network,
        subnets=subnets.subnets,
        network_type=network_type,
    )


async def network_delete(request: Request) -> Response:
    user = require_user(request)
    await request.app.state.api.network.DeleteNetwork(
        npb.DeleteNetworkRequest(id=request.path_params["network_id"]), metadata=user.metadata
    )
    flash(request, _("Network deleted."))
    return redirect("/networks")


async def subnet_create(request: Request) -> Response:
    user = require_user(request)
    form = await request.form()
    network_id = request.path_params["network_id"]
    cidr = str(form.get("cidr", "")).strip()
    gateway = str(form.get("gateway_ip", "")).strip()
    subnet = npb.Subnet(
        network_id=network_id,
        name=str(form.get("name", "")).strip(),
        cidr=cidr,
        ip_version=6 if ":" in cidr else 4,
        gateway_ip=gateway,
        no_gateway=form.get("no_gateway") == "on",
        dns_nameservers=listed(form, "dns_nameservers"),
        enable_dhcp=form.get("enable_dhcp") == "on",
    )
    created = await request.app.state.api.network.CreateSubnet(
        npb.CreateSubnetRequest(subnet=subnet), metadata=user.metadata
    )
    flash(request, _("Subnet %(name)s created.", name=created.name or created.cidr))
    return redirect(f"/networks/{network_id}")


async def subnet_delete(request: Request) -> Response:
    user = require_user(request)
    await request.app.state.api.network.DeleteSubnet(
        npb.DeleteSubnetRequest(id=request.path_params["subnet_id"]), metadata=user.metadata
    )
    flash(request, _("Subnet deleted."))
    return back(request, "/networks")


routes = [
    Route("/networks", network_list, methods=["GET"]),
    Route("/networks", network_create, methods=["POST"]),
    Route("/networks/{network_id}", network_detail, methods=["GET"]),
    Route("/networks/{network_id}/delete", network_delete, methods=["POST"]),
    Route("/networks/{network_id}/subnets", subnet_create, methods=["POST"]),
    Route("/subnets/{subnet_id}/delete", subnet_delete, methods=["POST"]),
]
