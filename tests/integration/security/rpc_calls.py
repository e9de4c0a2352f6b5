"""Any public RPC called by name: with a message, or with raw bytes through a generic channel.

A streaming response is read up to its first message (a watch never ends by itself); a
client-streaming request is a list of messages (or of byte strings).
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.protobuf import message_factory

from stratus.ca.v1 import ca_service_pb2 as capb
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.identity.v1 import identity_service_pb2 as ipb
from stratus.image.v1 import image_service_pb2 as gpb
from stratus.network.v1 import network_service_pb2 as npb

# The services of the public listener, as the generated code describes them. The suites
# check this list against the controller's registered services.
PUBLIC_SERVICES = [
    ipb.DESCRIPTOR.services_by_name["IdentityService"],
    gpb.DESCRIPTOR.services_by_name["ImageService"],
    capb.DESCRIPTOR.services_by_name["CertificateAuthorityService"],
    cpb.DESCRIPTOR.services_by_name["ComputeService"],
    npb.DESCRIPTOR.services_by_name["NetworkService"],
]
METHODS = {f"{s.name}/{m.name}": m for s in PUBLIC_SERVICES for m in s.methods}


def key(full_name: str) -> str:
    """'/stratus.identity.v1.IdentityService/IssueToken' -> 'IdentityService/IssueToken'."""
    return full_name.rsplit(".", 1)[1]


@dataclass
class Outcome:
    code: grpc.StatusCode
    response: object = None
    details: str = ""


def _path(method) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def _callable(channel: grpc.Channel, method, raw: bool):
    kind = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }[method.client_streaming, method.server_streaming]
    if raw:  # no serializers: the bytes go on the wire as they are
        return kind(_path(method))
    response = message_factory.GetMessageClass(method.output_type)
    return kind(
        _path(method),
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response.FromString,
    )


def invoke(
    channel: grpc.Channel, key_name: str, request, metadata, timeout: float = 30, raw: bool = False
) -> Outcome:
    """Calls the method; returns its status code and (when OK) its first response."""
    method = METHODS[key_name]
    call = _callable(channel, method, raw)
    if method.client_streaming:
        request = iter(request)
    try:
        if method.server_streaming:
            responses = call(request, metadata=metadata, timeout=timeout)
            try:
                first = next(responses, None)
            finally:
                responses.cancel()
            return Outcome(grpc.StatusCode.OK, first)
        return Outcome(grpc.StatusCode.OK, call(request, metadata=metadata, timeout=timeout))
    except grpc.RpcError as error:
        return Outcome(error.code(), None, error.details() or "")
