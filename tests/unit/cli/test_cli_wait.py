"""--wait follows a real server-streaming call."""
import io

import grpc
import pytest

from cli.errors import CliError, ExitCode, WaitFailed
from cli.wait import REOPEN_LIMIT, follow


def watcher(*opens):
    """A Watch handler whose n-th call sends the statuses of opens[n]; a status "DROP"
    ends that call with UNAVAILABLE. It records what each call was opened after."""
    calls = []

    async def handler(request, context):
        statuses = opens[min(len(calls), len(opens) - 1)]
        calls.append(request)
        for status in statuses:
            if status == "DROP":
                await context.abort(grpc.StatusCode.UNAVAILABLE, "controller restarting")
            yield status.encode()
    handler.calls = calls
    return handler


def run(tiny_server, handler, **kwargs):
    target = tiny_server({"Watch": (grpc.unary_stream_rpc_method_handler, handler)})
    report = io.StringIO()
    with grpc.insecure_channel(target) as channel:
        watch = channel.unary_stream("/test.v1.Tiny/Watch")
        try:
            return follow(lambda last: watch(last or b""), status_of=bytes.decode,
                          done=lambda m: m == b"ACTIVE", failed=lambda m: m == b"ERROR",
                          report=report, label="server web1", **kwargs), report.getvalue()
        except CliError as e:
            return e, report.getvalue()


def test_reports_each_change_once_and_returns_the_final_resource(tiny_server):
    result, report = run(tiny_server, watcher(["BUILD", "BUILD", "BUILD", "ACTIVE", "x"]))
    assert result == b"ACTIVE"
    assert report == "server web1: BUILD\nserver web1: ACTIVE\n"


def test_an_error_status_fails_with_its_fault(tiny_server):
    result, report = run(tiny_server, watcher(["BUILD", "ERROR"]),
                         fault_of=lambda r: "no valid host")
    assert isinstance(result, WaitFailed) and result.exit_code == ExitCode.WAIT_FAILED
    assert str(result) == "server web1 is ERROR: no valid host"
    assert report.endswith("server web1: ERROR\n")


def test_a_dropped_stream_is_opened_again(tiny_server):
    handler = watcher(["BUILD", "DROP"], ["BUILD", "ACTIVE"])
    result, report = run(tiny_server, handler)
    assert result == b"ACTIVE" and handler.calls == [b"", b"BUILD"]
    assert report == "server web1: BUILD\nserver web1: ACTIVE\n"


def test_gives_up_when_the_watch_keeps_ending(tiny_server):
    handler = watcher(["BUILD"])
    result, _ = run(tiny_server, handler)
    assert isinstance(result, CliError) and "still BUILD" in str(result)
    assert len(handler.calls) == REOPEN_LIMIT


def test_other_errors_are_not_retried(tiny_server):
    async def handler(request, context):
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such server")
        yield b""
    with pytest.raises(grpc.RpcError) as caught:
        run(tiny_server, handler)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
