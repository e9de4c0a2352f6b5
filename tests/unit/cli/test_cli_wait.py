"""--wait follows a real server-streaming call."""

import asyncio
import io
import re

import grpc
import pytest

from cli import wait
from cli.errors import CliError, ExitCode, WaitFailed
from cli.wait import REOPEN_LIMIT, Report, follow


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


def run(tiny_server, handler, report=None, **kwargs):
    target = tiny_server({"Watch": (grpc.unary_stream_rpc_method_handler, handler)})
    report = report if report is not None else io.StringIO()
    with grpc.insecure_channel(target) as channel:
        watch = channel.unary_stream("/test.v1.Tiny/Watch")
        try:
            options = {"done": lambda m: m == b"ACTIVE"} | kwargs
            return follow(
                lambda last: watch(last or b""),
                status_of=bytes.decode,
                failed=lambda m: m == b"ERROR",
                report=report,
                label="server web1",
                **options,
            ), report.getvalue()
        except CliError as e:
            return e, report.getvalue()


def test_reports_each_change_once_and_returns_the_final_resource(tiny_server):
    result, report = run(tiny_server, watcher(["BUILD", "BUILD", "BUILD", "ACTIVE", "x"]))
    assert result == b"ACTIVE"
    assert report == "server web1: BUILD\nserver web1: ACTIVE\n"


def test_an_error_status_fails_with_its_fault(tiny_server):
    result, report = run(
        tiny_server, watcher(["BUILD", "ERROR"]), fault_of=lambda r: "no valid host"
    )
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


class Terminal(io.StringIO):
    def isatty(self):
        return True


def slow_stop(report, until: str):
    """A Watch handler that sends STOPPING, then SHUTOFF only once `until` is in `report`
    (what the client has shown while it waited)."""

    async def handler(request, context):
        yield b"STOPPING"
        for _ in range(3000):  # at most 30 s
            if until in report.getvalue():
                break
            await asyncio.sleep(0.01)
        yield b"SHUTOFF"

    return handler


def stopped(message):
    return message == b"SHUTOFF"


@pytest.fixture
def short_intervals(monkeypatch):
    monkeypatch.setattr(wait, "REPORT_INTERVAL", 0.01)
    monkeypatch.setattr(wait, "REDRAW_INTERVAL", 0.01)


def test_a_long_wait_writes_a_line_every_few_seconds_naming_what_it_waits_for(
    tiny_server, short_intervals
):
    report = io.StringIO()
    until = "server web1: STOPPING, waiting for SHUTOFF ("
    result, text = run(
        tiny_server, slow_stop(report, until), report=report, done=stopped, goal="SHUTOFF"
    )
    assert result == b"SHUTOFF"
    lines = text.splitlines()
    assert lines[0] == "server web1: STOPPING" and lines[-1] == "server web1: SHUTOFF"
    assert len(lines) >= 3 and all(
        re.fullmatch(r"server web1: STOPPING, waiting for SHUTOFF \(\d+:\d\d\)", line)
        for line in lines[1:-1]
    )
    assert "\r" not in text


def test_on_a_terminal_one_line_is_redrawn_and_cleared_at_the_end(tiny_server, short_intervals):
    report = Terminal()
    until = "\r\x1b[Kserver web1: STOPPING, waiting for SHUTOFF ("
    result, text = run(
        tiny_server, slow_stop(report, until), report=report, done=stopped, goal="SHUTOFF"
    )
    assert result == b"SHUTOFF"
    assert text.startswith("server web1: STOPPING\n\r\x1b[Kserver web1: STOPPING, waiting")
    assert text.endswith("\r\x1b[Kserver web1: SHUTOFF\n")  # the redrawn line is gone
    assert text.count("\n") == 2


def test_the_waiting_line_shows_the_time_waited():
    now = [100.0]
    report = Report(io.StringIO(), "server web1", "SHUTOFF", elapsed=True, clock=lambda: now[0])
    report.changed("ACTIVE (powering-off)")
    now[0] += 72
    assert report.waiting_line() == "server web1: ACTIVE (powering-off), waiting for SHUTOFF (1:12)"
