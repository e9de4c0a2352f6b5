"""The admin's pages: projects, users, role assignments, flavors, hypervisors with used/free
bars, compute services (enable, disable) and the CA's certificates. The controller's policy
decides; the dashboard only hides these pages from others."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dashboard.auth import require_admin
from dashboard.i18n import N_, _
from dashboard.web import back, enum_label, flash, list_page, render
from stratus.ca.v1 import ca_service_pb2 as capb
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.identity.v1 import identity_service_pb2 as ipb


def _time(stamp: Timestamp) -> str:
    return stamp.ToDatetime().strftime("%Y-%m-%d %H:%M") if stamp.seconds else ""


@dataclasses.dataclass(frozen=True)
class Table:
    """One admin list: which RPC fills it, which request field the search box sets, and the
    columns (a header and how a row's cell is read)."""

    path: str
    title: str
    service: str
    method: str
    request: Any
    items: str
    search: str
    columns: tuple[tuple[str, Callable[[Any], object]], ...]
    # A form shown above the table (a template under admin/forms/), posting to `path`.
    form: str = ""


TABLES = [
    Table(
        "/admin/projects",
        N_("Projects"),
        "identity",
        "ListProjects",
        ipb.ListProjectsRequest,
        "projects",
        "name",
        (
            (N_("Name"), lambda p: p.name),
            (N_("ID"), lambda p: p.id),
            (N_("Enabled"), lambda p: "yes" if p.enabled else "no"),
            (N_("Description"), lambda p: p.description),
        ),
        form="admin/forms/project.html",
    ),
    Table(
        "/admin/users",
        N_("Users"),
        "identity",
        "ListUsers",
        ipb.ListUsersRequest,
        "users",
        "name",
        (
            (N_("Name"), lambda u: u.name),
            (N_("ID"), lambda u: u.id),
            (N_("Email"), lambda u: u.email),
            (N_("Enabled"), lambda u: "yes" if u.enabled else "no"),
        ),
        form="admin/forms/user.html",
    ),
    Table(
        "/admin/role-assignments",
        N_("Role assignments"),
        "identity",
        "ListRoleAssignments",
        ipb.ListRoleAssignmentsRequest,
        "role_assignments",
        "user_id",
        (
            (N_("User"), lambda a: a.user_name),
            (N_("Project"), lambda a: a.project_name),
            (N_("Role"), lambda a: a.role_name),
        ),
        form="admin/forms/role_assignment.html",
    ),
    Table(
        "/admin/flavors",
        N_("Flavors"),
        "compute",
        "ListFlavors",
        cpb.ListFlavorsRequest,
        "flavors",
        "",
        (
            (N_("Name"), lambda f: f.name),
            (N_("VCPUs"), lambda f: f.vcpus),
            (N_("RAM (MB)"), lambda f: f.ram_mb),
            (N_("Disk (GB)"), lambda f: f.disk_gb),
            (N_("Public"), lambda f: "yes" if f.is_public else "no"),
        ),
    ),
    Table(
        "/admin/certificates",
        N_("Certificates"),
        "ca",
        "ListCertificates",
        capb.ListCertificatesRequest,
        "certificates",
        "host_name",
        (
            (N_("Host"), lambda c: c.host_name),
            (N_("Subject"), lambda c: c.subject),
            (
                N_("Status"),
                lambda c: enum_label(capb.CertificateStatus, c.status, "CERTIFICATE_STATUS_"),
            ),
            (N_("Expires"), lambda c: _time(c.not_after_time)),
            (N_("Serial"), lambda c: c.serial_number),
        ),
    ),
]


def _table_page(table: Table) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        user = require_admin(request)
        call = getattr(getattr(request.app.state.api, table.service), table.method)
        reply, paging = await list_page(request, user, call, table.request, table.search)
        items = getattr(reply, table.items)
        return render(
            request,
            "admin/table.html",
            title=_(table.title),
            headers=[_(header) for header, _column in table.columns],
            rows=[[column(item) for _header, column in table.columns] for item in items],
            searchable=bool(table.search),
            form=table.form,
            **paging,
        )

    return page


async def hypervisors(request: Request) -> Response:
    user = require_admin(request)
    call = request.app.state.api.compute.ListHypervisors
    reply, paging = await list_page(request, user, call, cpb.ListHypervisorsRequest, "hostname")
    return render(request, "admin/hypervisors.html", hypervisors=reply.hypervisors, **paging)


async def services(request: Request) -> Response:
    user = require_admin(request)
    call = request.app.state.api.compute.ListComputeServices
    reply, paging = await list_page(request, user, call, cpb.ListComputeServicesRequest, "host")
    return render(
        request,
        "admin/services.html",
        services=reply.services,
        enabled=cpb.SERVICE_STATUS_ENABLED,
        state=lambda value: enum_label(cpb.ServiceState, value, "SERVICE_STATE_"),
        **paging,
    )


async def service_toggle(request: Request) -> Response:
    user = require_admin(request)
    form = await request.form()
    compute = request.app.state.api.compute
    service_id = request.path_params["service_id"]
    if form.get("enable") == "1":
        await compute.EnableComputeService(
            cpb.EnableComputeServiceRequest(id=service_id), metadata=user.metadata
        )
    else:
        reason = str(form.get("reason", "")).strip() or "disabled from the dashboard"
        await compute.DisableComputeService(
            cpb.DisableComputeServiceRequest(id=service_id, reason=reason), metadata=user.metadata
        )
    flash(request, _("Compute service updated."))
    return back(request, "/admin/services")


routes = [
    *(Route(t.path, _table_page(t), methods=["GET"]) for t in TABLES),
    Route("/admin/hypervisors", hypervisors, methods=["GET"]),
    Route("/admin/services", services, methods=["GET"]),
    Route("/admin/services/{service_id}", service_toggle, methods=["POST"]),
]
