"""Assertions on gRPC errors: the status code and the AIP-193 details."""

import contextlib

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


@contextlib.contextmanager
def raises(code: grpc.StatusCode, reason: str | None = None, field: str | None = None):
    """Asserts the block fails with `code` (and, when given, the ErrorInfo reason and a
    BadRequest field)."""
    with pytest.raises(grpc.RpcError) as info:
        yield info
    error = info.value
    assert error.code() == code, f"expected {code}, got {error.code()}: {error.details()}"
    status = rpc_status.from_call(error)
    if reason is not None or field is not None:
        assert status is not None, "the error carries no google.rpc.Status details"
    found_reason, fields = None, []
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info_msg = error_details_pb2.ErrorInfo()
            detail.Unpack(info_msg)
            found_reason = info_msg.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
    if reason is not None:
        assert found_reason == reason, f"expected reason {reason}, got {found_reason}"
    if field is not None:
        assert field in fields, f"expected a violation of {field}, got {fields}"


def reason_of(trailing_metadata) -> str:
    """The google.rpc.ErrorInfo reason in a call's trailing metadata ('' if none)."""
    for key, value in trailing_metadata or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info.reason
    return ""
