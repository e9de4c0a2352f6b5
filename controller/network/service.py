"""Wires the network area into the controller: its settings, quotas, the port other areas use
(`app.network_port`, set here: the compute area reads it) and the public NetworkService."""

from __future__ import annotations

from controller.network import policies
from controller.network.config import NetworkSection
from controller.network.port import NetworkPort
from controller.network.quotas import NetworkQuotas
from controller.network.servicer import NetworkServicer
from stratus.network.v1 import network_service_pb2


def setup(app):
    settings = app.config.section(NetworkSection)
    settings.vni_range()  # a bad range stops the start, not the first network create
    quotas = NetworkQuotas(app.db, settings.quota_defaults())
    port = NetworkPort(app.db, settings, quotas)
    app.network_port = port
    app.enforcer.register(policies.RULES)
    app.add_public_service(
        NetworkServicer(app.db, settings, quotas, port),
        network_service_pb2.DESCRIPTOR.services_by_name["NetworkService"],
    )
