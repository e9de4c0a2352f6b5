"""The project's overview: quota usage as bars (compute's, and networks when served)."""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dashboard.auth import require_user
from dashboard.i18n import _
from dashboard.web import render
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.network.v1 import network_service_pb2 as npb


@dataclasses.dataclass
class Usage:
    label: str
    used: int
    limit: int  # -1: unlimited

    @property
    def unlimited(self) -> bool:
        return self.limit < 0


async def overview(request: Request) -> Response:
    user = require_user(request)
    quotas = await request.app.state.api.compute.GetQuotas(
        cpb.GetQuotasRequest(project_id=user.project_id), metadata=user.metadata
    )
    usage = [
        Usage(_("Instances"), quotas.usage.instances, quotas.limits.instances),
        Usage(_("VCPUs"), quotas.usage.cores, quotas.limits.cores),
        Usage(_("RAM (MB)"), quotas.usage.ram_mb, quotas.limits.ram_mb),
        Usage(_("Key pairs"), quotas.usage.key_pairs, quotas.limits.key_pairs),
    ]
    if request.app.state.optional_pages["networks"]:
        network = await request.app.state.api.network.GetNetworkQuotas(
            npb.GetNetworkQuotasRequest(project_id=user.project_id), metadata=user.metadata
        )
        usage.append(Usage(_("Networks"), network.usage.networks, network.limits.networks))
    return render(request, "overview.html", usage=usage)


routes = [Route("/", overview, methods=["GET"])]
