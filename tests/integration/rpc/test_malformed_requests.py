"""A request that does not decode as its message is INVALID_ARGUMENT (reason
MALFORMED_REQUEST), never UNKNOWN naming a Python exception; unary and streaming alike."""

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor

from stratus.ca.v1 import ca_service_pb2
from stratus.compute.v1 import compute_service_pb2
from stratus.identity.v1 import identity_service_pb2
from stratus.image.v1 import image_service_pb2
from tests.support.errors import raises

INVALID = grpc.StatusCode.INVALID_ARGUMENT

MALFORMED = {
    "invalid-utf8": None,  # the method's first string field, holding bytes that are not UTF-8
    "truncated-length": b"\x0a\x10abc",  # says 16 bytes follow, 3 do
    "truncated-varint": b"\x08\xff",
    "overlong-varint": b"\x08" + b"\xff" * 11,
    "bad-wire-type": b"\x0f",
    "field-zero": b"\x00\x01",
    "garbage": b"\xff\xff\xff\xff\xff",
}

METHODS = [
    (None, "/stratus.identity.v1.IdentityService/IssueToken"),
    ("admin", "/stratus.identity.v1.IdentityService/GetProject"),
    ("admin", "/stratus.identity.v1.IdentityService/ListUsers"),
    ("member", "/stratus.image.v1.ImageService/ListImages"),
    ("member", "/stratus.compute.v1.ComputeService/GetServer"),
    ("admin", "/stratus.ca.v1.CertificateAuthorityService/CreateEnrollmentToken"),
]


@pytest.fixture(scope="module")
def member(cloud):
    return cloud.tenant("member")


def _metadata(cloud, member, who):
    return {"admin": cloud.admin, "member": member.metadata, None: ()}[who]


def _invalid_utf8(method: str) -> bytes:
    """A string field of the method's request holding bytes that are not UTF-8."""
    service, name = method.strip("/").split("/")
    files = (ca_service_pb2, compute_service_pb2, identity_service_pb2, image_service_pb2)
    request = next(
        f.DESCRIPTOR.services_by_name[service.rsplit(".", 1)[1]]
        for f in files
        if f.DESCRIPTOR.package == service.rsplit(".", 1)[0]
    ).methods_by_name[name]
    number = next(
        f.number for f in request.input_type.fields if f.type == FieldDescriptor.TYPE_STRING
    )
    return bytes([number << 3 | 2, 2]) + b"\xff\xfe"


def _assert_clean(error):
    text = error.details() or ""
    for word in ("Traceback", "Exception", "DecodeError", "Error parsing", "Unexpected"):
        assert word not in text, text


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize("who,method", METHODS, ids=[m.rsplit("/", 1)[1] for _, m in METHODS])
def test_a_malformed_unary_request_is_invalid_argument(cloud, member, who, method, payload):
    call = cloud.channel.unary_unary(method)
    with raises(INVALID, reason="MALFORMED_REQUEST", field="request") as info:
        call(payload or _invalid_utf8(method), metadata=_metadata(cloud, member, who))
    _assert_clean(info.value)


def test_a_malformed_server_streaming_request_is_invalid_argument(cloud, member):
    call = cloud.channel.unary_stream("/stratus.compute.v1.ComputeService/WatchServers")
    with raises(INVALID, reason="MALFORMED_REQUEST") as info:
        list(
            call(
                _invalid_utf8("/stratus.compute.v1.ComputeService/WatchServers"),
                metadata=member.metadata,
            )
        )
    _assert_clean(info.value)


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_client_streaming_message_is_invalid_argument(cloud, payload):
    call = cloud.channel.stream_unary("/stratus.image.v1.ImageService/UploadImageData")
    with raises(INVALID, reason="MALFORMED_REQUEST") as info:
        call(
            iter([payload or _invalid_utf8("/stratus.image.v1.ImageService/UploadImageData")]),
            metadata=cloud.admin,
        )
    _assert_clean(info.value)


def test_without_a_token_a_malformed_request_is_still_unauthenticated(cloud):
    call = cloud.channel.unary_unary("/stratus.identity.v1.IdentityService/GetProject")
    with raises(grpc.StatusCode.UNAUTHENTICATED):
        call(MALFORMED["garbage"])
