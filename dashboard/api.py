"""The controller's public API as the dashboard calls it: one grpc.aio channel, the generated
stubs, and the user's own token on every call (the dashboard holds no credentials of its own)."""

from __future__ import annotations

from pathlib import Path

import grpc

from stratus.ca.v1 import ca_service_pb2_grpc as ca_grpc
from stratus.compute.v1 import compute_service_pb2_grpc as compute_grpc
from stratus.identity.v1 import identity_service_pb2_grpc as identity_grpc
from stratus.image.v1 import image_service_pb2_grpc as image_grpc
from stratus.network.v1 import network_service_pb2_grpc as network_grpc

_PLAINTEXT, _TLS = "grpc://", "grpcs://"


def open_channel(url: str, ca_file: str = "") -> grpc.aio.Channel:
    """grpc://host:port in plain text, grpcs://host:port over TLS (CA bundle optional)."""
    if url.startswith(_TLS):
        roots = Path(ca_file).read_bytes() if ca_file else None
        credentials = grpc.ssl_channel_credentials(root_certificates=roots)
        return grpc.aio.secure_channel(url[len(_TLS) :].rstrip("/"), credentials)
    return grpc.aio.insecure_channel(url.removeprefix(_PLAINTEXT).rstrip("/"))


class Api:
    """The stubs of every public service, on one channel."""

    def __init__(self, channel: grpc.aio.Channel):
        self.channel = channel
        self.identity = identity_grpc.IdentityServiceStub(channel)  # type: ignore[no-untyped-call]
        self.image = image_grpc.ImageServiceStub(channel)  # type: ignore[no-untyped-call]
        self.compute = compute_grpc.ComputeServiceStub(channel)  # type: ignore[no-untyped-call]
        self.ca = ca_grpc.CertificateAuthorityServiceStub(channel)  # type: ignore[no-untyped-call]
        self.network = network_grpc.NetworkServiceStub(channel)  # type: ignore[no-untyped-call]

    async def serves(self, service: str) -> bool:
        """Whether the controller offers a gRPC service (by full name), asked through server
        reflection: pages for APIs that are not there yet stay hidden."""
        from grpc_reflection.v1alpha import (  # type: ignore[import-untyped]
            reflection_pb2,
            reflection_pb2_grpc,
        )

        stub = reflection_pb2_grpc.ServerReflectionStub(self.channel)
        try:
            async for reply in stub.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
            ):
                return any(s.name == service for s in reply.list_services_response.service)
        except grpc.aio.AioRpcError:
            return False
        return False


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)
