"""The fuzzing engine shared by the test suite and `python -m bench.fuzz`.

A FuzzTarget is a real `stratus-controller` process with a database of its own, a world of
resources in it, and a reader of every table. `check` sends one request as one caller and
says what went wrong, if anything: a status of INTERNAL or UNKNOWN, or a refused request that
changed a row.
"""

from __future__ import annotations

from pathlib import Path

import grpc
from google.protobuf import text_format
from hypothesis import strategies as st

from controller.config import Config
from tests.integration.security import proto_strategies, rpc_calls
from tests.integration.security.minimal_requests import builders
from tests.integration.security.table_snapshot import TableSnapshot, difference
from tests.integration.security.world import World
from tests.support.cloud import Cloud
from tests.support.controller import ControllerProcess, prepare, write_config

FUZZ_CALLERS = ("admin", "member", "other")
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
# The call's fate is unknown to the client: the server may still have done it.
UNDECIDED = {grpc.StatusCode.OK, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
UNARY_TIMEOUT = 15.0
STREAM_TIMEOUT = 2.0  # a watch with nothing to say waits for ever: its deadline ends it
# The one asynchronous workflow of a controller without nodes: placing a new server.
IN_FLIGHT = "SELECT count(*) FROM instance WHERE task_state = 'scheduling'"
# Methods whose valid request would end the world: a caller's password really changed.
NO_BASE = {"IdentityService/ChangePassword"}
# What a refused call may write, by design: a wrong password counts towards the lockout.
MAY_CHANGE = {"IdentityService/IssueToken": {"user_account": ("failed_auth_count", "locked_until")}}


def describe(request, limit: int = 600) -> str:
    """A short, printable form of a request (messages, bytes, or a stream of either)."""
    if isinstance(request, list):
        return "[" + ", ".join(describe(r, limit // max(len(request), 1)) for r in request) + "]"
    text = (
        repr(request)
        if isinstance(request, bytes)
        else text_format.MessageToString(request, as_one_line=True)
    )
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _merged(base, extra):
    message = type(base)()
    message.CopyFrom(base)
    message.MergeFrom(extra)
    return message


def valid_requests(world: World) -> dict:
    """The policy matrix's minimal valid request of each method (the first message of a
    stream), made once: generated fields are merged into it, so examples reach past the
    validation of ids. Methods this world has nothing for (no compute hosts) have none."""
    out = {}
    for method, build in builders(world).items():
        if method in NO_BASE:
            continue
        try:
            request = build()
        except (IndexError, grpc.RpcError):
            continue
        out[method] = request[0] if isinstance(request, list) else request
    return out


class FuzzTarget:
    def __init__(self, root: Path, database_url: str):
        self.config_path = write_config(
            root / "state", database_url, extra="[image]\nscrub_interval = 86400\n"
        )
        prepare(self.config_path)
        self.process = ControllerProcess(self.config_path, root / "controller.log").start()
        self.cloud = Cloud(self.process.address)
        self.world = World(self.cloud, Config.load(self.config_path))
        for who in ("admin", "other"):  # so every caller's watch has something to send
            self.world.new_server(who=who)
        self.known = self.world.known_strings()
        self.bases = valid_requests(self.world)
        self.tables = TableSnapshot(database_url)
        self._state = None

    def requests(self, method: str, raw: bool = False) -> st.SearchStrategy:
        descriptor = rpc_calls.METHODS[method]
        one = (proto_strategies.raw_payloads if raw else proto_strategies.messages)(
            descriptor.input_type, self.known
        )
        base = self.bases.get(method)
        if base is not None and not raw:  # a valid request with some fields replaced
            one = one | st.builds(_merged, st.just(base), one)
        return st.lists(one, max_size=4) if descriptor.client_streaming else one

    def check(self, method: str, caller: str, request, raw: bool = False) -> str | None:
        """What went wrong with this call, or None."""
        before = self._state if self._state is not None else self.tables.settled(IN_FLIGHT)
        streaming = rpc_calls.METHODS[method].server_streaming
        outcome = rpc_calls.invoke(
            self.cloud.channel,
            method,
            request,
            self.world.caller(caller).metadata,
            raw=raw,
            timeout=STREAM_TIMEOUT if streaming else UNARY_TIMEOUT,
        )
        if outcome.code in UNDECIDED:
            self._state = self.tables.settled(IN_FLIGHT)
            return None
        self._state = self.tables.take()
        if outcome.code in NEVER:
            return f"{outcome.code.name}: {outcome.details}"
        changed = difference(before, self._state, MAY_CHANGE.get(method))
        if changed:
            return f"refused with {outcome.code.name} ({outcome.details}) but changed {changed}"
        return None

    def errors_logged(self, lines: int = 20) -> str:
        """The controller log's latest lines from level=error on (tracebacks included)."""
        text = self.process.log_path.read_text()
        start = text.rfind(" level=error ")
        return (
            "\n".join(text[text.rfind("\n", 0, start) + 1 :].splitlines()[:lines])
            if start >= 0
            else ""
        )

    def close(self):
        self.cloud.close()
        self.tables.close()
        self.process.terminate()
