"""Error lines built from real grpc.RpcErrors, raised by a real grpc.aio server."""

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from cli import rpc_errors
from cli.errors import ExitCode


def _status(code, message, *details):
    packed = []
    for detail in details:
        any_detail = any_pb2.Any()
        any_detail.Pack(detail)
        packed.append(any_detail)
    return rpc_status.to_status(status_pb2.Status(code=code, message=message, details=packed))


def _aborting(status):
    async def handler(request, context):
        await context.abort(status.code, status.details, status.trailing_metadata)

    return handler


def _raise(target):
    with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary("/test.v1.Tiny/Call")(b"", timeout=30)
    return caught.value


@pytest.fixture
def rpc_error(tiny_server):
    """The RpcError that a real call gets when the server aborts with `status`."""

    def make(status):
        target = tiny_server({"Call": (grpc.unary_unary_rpc_method_handler, _aborting(status))})
        return _raise(target)

    return make


def test_field_violations_are_listed_on_one_line(rpc_error):
    error = rpc_error(
        _status(
            code_pb2.INVALID_ARGUMENT,
            "image has 2 invalid fields",
            error_details_pb2.ErrorInfo(reason="IMAGE_INVALID", domain="stratus"),
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field="disk_format", description="must be one of raw, qcow2"
                    ),
                    error_details_pb2.BadRequest.FieldViolation(
                        field="name", description="must not be\nempty"
                    ),
                ]
            ),
        )
    )
    line = rpc_errors.describe(error, request_id="req-1")
    assert "\n" not in line
    assert line.startswith(
        "INVALID_ARGUMENT: image has 2 invalid fields; "
        "disk_format: must be one of raw, qcow2; name: must not be empty. "
    )
    assert "Correct the values named" in line
    assert line.endswith("(reason IMAGE_INVALID, request req-1)")
    assert rpc_errors.exit_code_for(error) == ExitCode.FAILED


def test_a_message_repeating_the_only_violation_is_not_shown_twice(rpc_error):
    error = rpc_error(
        _status(
            code_pb2.INVALID_ARGUMENT,
            "name: must not be empty",
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field="name", description="must not be empty"
                    )
                ]
            ),
        )
    )
    line = rpc_errors.describe(error)
    assert line.count("must not be empty") == 1
    assert line.startswith("INVALID_ARGUMENT: name: must not be empty.")


@pytest.mark.parametrize(
    "code, exit_code, hint",
    [
        (code_pb2.NOT_FOUND, ExitCode.NOT_FOUND, "Check the name or ID"),
        (code_pb2.UNAUTHENTICATED, ExitCode.AUTH, "Check the username, password and project"),
        (code_pb2.PERMISSION_DENIED, ExitCode.AUTH, "ask an administrator"),
        (code_pb2.ALREADY_EXISTS, ExitCode.FAILED, "Choose another name"),
        (code_pb2.RESOURCE_EXHAUSTED, ExitCode.FAILED, "higher quota"),
        (code_pb2.FAILED_PRECONDITION, ExitCode.FAILED, "check its status"),
    ],
)
def test_each_code_has_its_exit_code_and_what_to_do(rpc_error, code, exit_code, hint):
    error = rpc_error(
        _status(code, "image cirros: refused", error_details_pb2.ErrorInfo(reason="SOME_REASON"))
    )
    line = rpc_errors.describe(error)
    assert line.startswith(f"{code_pb2.Code.Name(code)}: image cirros: refused. ")
    assert hint in line
    assert rpc_errors.exit_code_for(error) == exit_code


def test_retry_info_quota_and_precondition_details_are_shown(rpc_error):
    error = rpc_error(
        _status(
            code_pb2.RESOURCE_EXHAUSTED,
            "quota exceeded",
            error_details_pb2.QuotaFailure(
                violations=[
                    error_details_pb2.QuotaFailure.Violation(
                        subject="project:p1", description="instances: 10 of 10 used"
                    )
                ]
            ),
            error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=3)),
        )
    )
    line = rpc_errors.describe(error)
    assert "quota exceeded; instances: 10 of 10 used." in line
    assert "retry after 3 s" in line


def test_a_plain_error_without_details(rpc_error):
    error = rpc_error(_status(code_pb2.INTERNAL, ""))
    line = rpc_errors.describe(error)
    assert line.startswith("INTERNAL: no message from the server. A fault on the server")


def test_an_unreachable_server_names_the_url():
    with grpc.insecure_channel("127.0.0.1:1") as channel, pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary("/test.v1.Tiny/Call")(b"", timeout=30)
    line = rpc_errors.describe(caught.value, url="127.0.0.1:1")
    assert line.startswith("UNAVAILABLE: ")
    assert "Check that the controller is running at 127.0.0.1:1" in line
    assert rpc_errors.exit_code_for(caught.value) == ExitCode.UNREACHABLE


@pytest.mark.parametrize(
    "reason, hint",
    [
        ("HOST_ERROR", "The server's compute host reported this failure"),
        ("HOST_DOWN", "The server's compute host is not reporting"),
        ("HOST_TIMEOUT", "The server's compute host did not answer in time"),
        ("CONDUCTOR_UNAVAILABLE", "The controller answered, but a service it needs is unavailable"),
    ],
)
def test_an_unavailable_answered_by_the_controller_says_what_is_true(rpc_error, reason, hint):
    error = rpc_error(
        _status(
            code_pb2.UNAVAILABLE,
            "console output failed: instance gone",
            error_details_pb2.ErrorInfo(reason=reason),
        )
    )
    line = rpc_errors.describe(error, url="127.0.0.1:5000")
    assert line.startswith(f"UNAVAILABLE: console output failed: instance gone. {hint}")
    assert "controller is running" not in line
    assert rpc_errors.exit_code_for(error) == ExitCode.UNREACHABLE


def test_a_step_names_what_the_client_was_doing_for_the_user(rpc_error):
    error = rpc_error(
        _status(
            code_pb2.PERMISSION_DENIED,
            "Policy does not allow identity:list_projects",
            error_details_pb2.ErrorInfo(reason="POLICY_DENIED"),
        )
    )
    line = rpc_errors.describe(error, step="user create: you may not look up project 'demo'")
    assert line.startswith(
        "PERMISSION_DENIED: user create: you may not look up project "
        "'demo': Policy does not allow identity:list_projects. "
    )
