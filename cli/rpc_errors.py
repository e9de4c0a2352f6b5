"""Turns a grpc.RpcError into one line: the status code, the server's message, the details
the server attached (google.rpc.BadRequest field violations, ErrorInfo reason, ...), and
what to do next."""

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cli.errors import ExitCode

_EXIT_CODES = {
    grpc.StatusCode.UNAUTHENTICATED: ExitCode.AUTH,
    grpc.StatusCode.PERMISSION_DENIED: ExitCode.AUTH,
    grpc.StatusCode.NOT_FOUND: ExitCode.NOT_FOUND,
    grpc.StatusCode.UNAVAILABLE: ExitCode.UNREACHABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: ExitCode.UNREACHABLE,
}

_SERVER_FAULT = "A fault on the server; its operator can find it in the log by the request ID."
_HINTS = {
    grpc.StatusCode.INVALID_ARGUMENT: "Correct the values named and run again.",
    grpc.StatusCode.OUT_OF_RANGE: "Correct the values named and run again.",
    grpc.StatusCode.NOT_FOUND: "Check the name or ID; the matching list command shows what exists.",
    grpc.StatusCode.ALREADY_EXISTS: "Choose another name, or use the existing one.",
    grpc.StatusCode.FAILED_PRECONDITION: (
        "The resource is not in a state that allows this; check its status."
    ),
    grpc.StatusCode.PERMISSION_DENIED: (
        "Your roles on this project do not allow this; ask an administrator."
    ),
    grpc.StatusCode.UNAUTHENTICATED: (
        "Check the username, password and project (--cloud, STRATUS_* variables or flags)."
    ),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (
        "A quota or limit was reached; free resources or ask for a higher quota."
    ),
    grpc.StatusCode.ABORTED: "A concurrent change won; run the command again.",
    grpc.StatusCode.UNAVAILABLE: (
        "Check that the controller is running at {url} (STRATUS_URL, --url or --cloud)."
    ),
    grpc.StatusCode.DEADLINE_EXCEEDED: (
        "The server did not answer in time; try again, or raise --timeout."
    ),
    grpc.StatusCode.UNIMPLEMENTED: "The server does not offer this call; is it an older version?",
    grpc.StatusCode.INTERNAL: _SERVER_FAULT,
    grpc.StatusCode.UNKNOWN: _SERVER_FAULT,
    grpc.StatusCode.DATA_LOSS: _SERVER_FAULT,
}


# Where the ErrorInfo reason knows better than the code. An UNAVAILABLE that carries a reason
# was answered by the controller, so it is not "check that the controller is running".
_REASON_HINTS = {
    "HOST_DOWN": "The server's compute host is not reporting; an administrator can check it "
    "with `stratus compute service list`.",
    "HOST_TIMEOUT": "The server's compute host did not answer in time; try again, or ask an "
    "administrator to check the host.",
    "HOST_ERROR": "The server's compute host reported this failure; its operator can find "
    "it in the host's log by the request ID.",
}
_ANSWERED_UNAVAILABLE = (
    "The controller answered, but a service it needs is unavailable; try again later."
)


def hint_for(code: grpc.StatusCode, reason: str | None, url: str | None) -> str:
    """What to do next, from the reason when it is known, else from the code."""
    if reason in _REASON_HINTS:
        return _REASON_HINTS[reason]
    if code == grpc.StatusCode.UNAVAILABLE and reason:
        return _ANSWERED_UNAVAILABLE
    return _HINTS.get(code, "").format(url=url or "the configured URL")


def exit_code_for(error: grpc.RpcError) -> ExitCode:
    return _EXIT_CODES.get(error.code(), ExitCode.FAILED)


def _details(error: grpc.RpcError) -> list:
    """The messages packed in the status's details, unpacked; [] when there are none."""
    try:
        status = rpc_status.from_call(error)
    except (ValueError, AttributeError):  # a status that disagrees with the call's code
        return []
    if status is None:
        return []
    unpacked = []
    for any_detail in status.details:
        for cls in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.BadRequest,
            error_details_pb2.PreconditionFailure,
            error_details_pb2.QuotaFailure,
            error_details_pb2.RetryInfo,
            error_details_pb2.Help,
            error_details_pb2.ResourceInfo,
        ):
            if any_detail.Is(cls.DESCRIPTOR):
                message = cls()
                any_detail.Unpack(message)
                unpacked.append(message)
                break
    return unpacked


def _trailing(error: grpc.RpcError, key: str) -> str | None:
    try:
        metadata = error.trailing_metadata() or ()
    except AttributeError:
        return None
    for name, value in metadata:
        if name == key and isinstance(value, str):
            return value
    return None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def describe(
    error: grpc.RpcError,
    *,
    url: str | None = None,
    request_id: str | None = None,
    step: str | None = None,
) -> str:
    """The line to print for `error`, without the program name; `step` says what the client
    was doing for the user when the call failed, if it was not the user's request itself."""
    code = error.code()
    message = _one_line(error.details() or "")
    facts: list[str] = []  # what the details add to the message
    reason = None
    notes: list[str] = []
    for detail in _details(error):
        if isinstance(detail, error_details_pb2.ErrorInfo):
            reason = detail.reason
        elif isinstance(detail, error_details_pb2.BadRequest):
            facts += [f"{v.field}: {_one_line(v.description)}" for v in detail.field_violations]
        elif isinstance(
            detail, (error_details_pb2.PreconditionFailure, error_details_pb2.QuotaFailure)
        ):
            facts += [_one_line(v.description) for v in detail.violations if v.description]
        elif isinstance(detail, error_details_pb2.RetryInfo):
            seconds = detail.retry_delay.seconds + detail.retry_delay.nanos / 1e9
            notes.append(f"retry after {seconds:g} s")
        elif isinstance(detail, error_details_pb2.Help):
            notes += [link.url for link in detail.links if link.url]
    facts = [fact for fact in facts if fact]
    # The server's message often repeats the only violation word for word.
    if facts and message in (facts[0], "; ".join(facts)):
        message = ""
    body = "; ".join(part for part in [message, *facts] if part) or "no message from the server"
    line = f"{code.name}: {step}: {body}" if step else f"{code.name}: {body}"
    hint = hint_for(code, reason, url)
    if hint:
        line += f". {hint}" if not line.endswith((".", "!", "?")) else f" {hint}"
    request_id = _trailing(error, "x-request-id") or request_id
    tail = [f"reason {reason}"] if reason and reason != code.name else []
    tail += notes
    if request_id:
        tail.append(f"request {request_id}")
    if tail:
        line += f" ({', '.join(tail)})"
    return line
