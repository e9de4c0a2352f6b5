"""Security groups and their rules: list and search, create, details with the rules, add and
remove a rule, delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dashboard.auth import require_user
from dashboard.i18n import _
from dashboard.views.networks import whole_number
from dashboard.web import back, enum_label, flash, list_page, redirect, render
from stratus.network.v1 import network_service_pb2 as npb

DIRECTIONS = ["ingress", "egress"]
ETHERTYPES = ["IPv4", "IPv6"]
PROTOCOLS = ["tcp", "udp", "icmp"]


def direction(rule: npb.SecurityGroupRule) -> str:
    return enum_label(npb.RuleDirection, rule.direction, "RULE_DIRECTION_")


async def group_list(request: Request) -> Response:
    user = require_user(request)
    call = request.app.state.api.network.ListSecurityGroups
    reply, paging = await list_page(request, user, call, npb.ListSecurityGroupsRequest, "name")
    return render(request, "security_groups.html", groups=reply.security_groups, **paging)


async def group_create(request: Request) -> Response:
    user = require_user(request)
    form = await request.form()
    group = await request.app.state.api.network.CreateSecurityGroup(
        npb.CreateSecurityGroupRequest(
            security_group=npb.SecurityGroup(
                name=str(form.get("name", "")).strip(),
                description=str(form.get("description", "")),
            )
        ),
        metadata=user.metadata,
    )
    flash(request, _("Security group %(name)s created.", name=group.name))
    return redirect(f"/security-groups/{group.id}")


async def group_detail(request: Request) -> Response:
    user = require_user(request)
    group = await request.app.state.api.network.GetSecurityGroup(
        npb.GetSecurityGroupRequest(id=request.path_params["group_id"]), metadata=user.metadata
    )
    return render(
        request,
        "security_group.html",
        group=group,
        direction=direction,
        directions=DIRECTIONS,
        ethertypes=ETHERTYPES,
        protocols=PROTOCOLS,
    )


async def group_delete(request: Request) -> Response:
    user = require_user(request)
    await request.app.state.api.network.DeleteSecurityGroup(
        npb.DeleteSecurityGroupRequest(id=request.path_params["group_id"]), metadata=user.metadata
    )
    flash(request, _("Security group deleted."))
    return redirect("/security-groups")


async def rule_create(request: Request) -> Response:
    user = require_user(request)
    form = await request.form()
    group_id = request.path_params["group_id"]
    low, high = whole_number(form, "port_range_min"), whole_number(form, "port_range_max")
    if low is None or high is None:
        flash(request, _("Ports must be whole numbers."), "error")
        return back(request, f"/security-groups/{group_id}")
    kind = str(form.get("direction", ""))
    rule = npb.SecurityGroupRule(
        security_group_id=group_id,
        direction=f"RULE_DIRECTION_{kind.upper()}" if kind in DIRECTIONS else None,
        ethertype=str(form.get("ethertype", "")),
        protocol=str(form.get("protocol", "")),
        port_range_min=low,
        port_range_max=high,
        remote_ip_prefix=str(form.get("remote_ip_prefix", "")).strip(),
        description=str(form.get("description", "")),
    )
    await request.app.state.api.network.CreateSecurityGroupRule(
        npb.CreateSecurityGroupRuleRequest(security_group_rule=rule), metadata=user.metadata
    )
    flash(request, _("Rule added."))
    return redirect(f"/security-groups/{group_id}")


async def rule_delete(request: Request) -> Response:
    user = require_user(request)
    await request.app.state.api.network.DeleteSecurityGroupRule(
        npb.DeleteSecurityGroupRuleRequest(id=request.path_params["rule_id"]),
        metadata=user.metadata,
    )
    flash(request, _("Rule removed."))
    return back(request, "/security-groups")


routes = [
    Route("/security-groups", group_list, methods=["GET"]),
    Route("/security-groups", group_create, methods=["POST"]),
    Route("/security-groups/{group_id}", group_detail, methods=["GET"]),
    Route("/security-groups/{group_id}/delete", group_delete, methods=["POST"]),
    Route("/security-groups/{group_id}/rules", rule_create, methods=["POST"]),
    Route("/security-group-rules/{rule_id}/delete", rule_delete, methods=["POST"]),
]
