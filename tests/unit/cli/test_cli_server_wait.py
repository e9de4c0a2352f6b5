"""`server create --wait` through the real CLI code path, against a real grpc.aio server that
speaks stratus.compute.v1 and plays a server's build: BUILD (scheduling, spawning), then
ACTIVE or ERROR."""

import asyncio
import io
import json

import pytest

from cli import wait
from cli.errors import ExitCode
from cli.main import main
from stratus.compute.v1 import compute_service_pb2 as pb
from stratus.compute.v1 import compute_service_pb2_grpc as pb_grpc
from tests.unit.cli.building_compute import IMAGE_ID, SERVER_ID


def run(address, *argv, stderr=None):
    stdout, stderr = io.StringIO(), stderr or io.StringIO()
    code = main(["--url", address, "--token", "t", *argv], env={}, stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def test_create_wait_reports_each_status_and_shows_the_active_server(compute_server):
    servicer, address = compute_server("ACTIVE")
    code, out, err = run(
        address,
        "server",
        "create",
        "web1",
        "--flavor",
        "m1.tiny",
        "--image",
        IMAGE_ID,
        "--wait",
        "-f",
        "json",
    )
    assert code == 0, err
    assert err == (
        "server web1: BUILD (scheduling)\nserver web1: BUILD (spawning)\nserver web1: ACTIVE\n"
    )
    shown = json.loads(out)
    assert (shown["id"], shown["status"], shown["flavor"]) == (
        SERVER_ID,
        "ACTIVE",
        "m1.tiny (m1.tiny)",
    )
    [created] = servicer.created
    assert created.request_id and created.server.image_id == IMAGE_ID
    [watched] = servicer.watched
    assert (watched.server_id, watched.since_revision) == (SERVER_ID, 7)


def test_create_wait_ending_in_error_is_exit_code_7_with_the_fault(compute_server):
    _, address = compute_server("ERROR")
    code, out, err = run(
        address, "server", "create", "web1", "--flavor", "m1.tiny", "--image", IMAGE_ID, "--wait"
    )
    assert code == ExitCode.WAIT_FAILED and out == ""
    assert err.splitlines()[-1] == "stratus: error: server web1 is ERROR: No valid host was found"


def test_create_without_wait_returns_the_building_server(compute_server):
    servicer, address = compute_server("ACTIVE")
    code, out, err = run(
        address,
        "server",
        "create",
        "web1",
        "--flavor",
        "m1.tiny",
        "--image",
        IMAGE_ID,
        "-f",
        "value",
        "-c",
        "status",
    )
    assert (code, out, err) == (0, "BUILD\n", "")
    assert servicer.watched == []


@pytest.mark.parametrize("options", [["-c", "hots"], ["-c", "id", "-c", "nosuch"]])
def test_an_unknown_column_is_refused_before_any_call(compute_server, options):
    servicer, address = compute_server("ACTIVE")
    code, out, err = run(
        address, "server", "create", "web1", "--flavor", "m1.tiny", "--image", IMAGE_ID, *options
    )
    assert (code, out) == (ExitCode.USAGE, "")
    assert err.startswith(f"stratus: error: unknown column {options[-1]!r}; columns: ")
    assert "host" in err and servicer.calls == []


def test_the_host_column_of_a_server_not_yet_placed_is_empty(compute_server):
    servicer, address = compute_server("ACTIVE")
    code, out, err = run(
        address,
        "server",
        "create",
        "web1",
        "--flavor",
        "m1.tiny",
        "--image",
        IMAGE_ID,
        "-f",
        "json",
        "-c",
        "id",
        "-c",
        "host",
    )
    assert code == 0, err
    assert json.loads(out) == {"id": SERVER_ID, "host": None}
    assert servicer.calls == ["GetFlavor", "CreateServer"]


class StoppingCompute(pb_grpc.ComputeServiceServicer):
    """Stops a server as a guest slow to shut down does: ACTIVE (powering_off) until the
    client has shown on `stderr` that it is waiting, then SHUTOFF."""

    def __init__(self, stderr):
        self.stderr = stderr
        self.server = pb.Server(
            id=SERVER_ID, name="web1", status=pb.SERVER_STATUS_ACTIVE, revision=3
        )

    async def GetServer(self, request, context):
        return self.server

    async def StopServer(self, request, context):
        self.server.task_state, self.server.revision = pb.TASK_STATE_POWERING_OFF, 4
        return self.server

    async def WatchServers(self, request, context):
        for _ in range(3000):  # at most 30 s
            if "waiting for SHUTOFF" in self.stderr.getvalue():
                break
            await asyncio.sleep(0.01)
        stopped = pb.Server(id=SERVER_ID, name="web1", status=pb.SERVER_STATUS_SHUTOFF, revision=5)
        yield pb.WatchServersResponse(server=stopped, revision=5)


def test_stop_wait_shows_the_time_waited_and_the_state_waited_for(aio_server, monkeypatch):
    monkeypatch.setattr(wait, "REPORT_INTERVAL", 0.01)
    stderr = io.StringIO()
    address = aio_server(
        lambda server: pb_grpc.add_ComputeServiceServicer_to_server(StoppingCompute(stderr), server)
    )
    code, out, err = run(address, "server", "stop", SERVER_ID, "--wait", stderr=stderr)
    assert (code, out) == (0, "")
    lines = err.splitlines()
    assert lines[0] == "server web1: ACTIVE (powering_off)"
    assert lines[1].startswith("server web1: ACTIVE (powering_off), waiting for SHUTOFF (0:")
    assert lines[-1] == "server web1: SHUTOFF"


def test_machine_formats_get_no_waiting_lines(compute_server, monkeypatch):
    monkeypatch.setattr(wait, "REPORT_INTERVAL", 0.01)
    _, address = compute_server("ACTIVE", pause=0.3)
    code, out, err = run(
        address,
        "server",
        "create",
        "web1",
        "--flavor",
        "m1.tiny",
        "--image",
        IMAGE_ID,
        "--wait",
        "-f",
        "json",
    )
    assert code == 0 and json.loads(out)["status"] == "ACTIVE"
    assert "waiting for" not in err
    assert err.splitlines()[-1] == "server web1: ACTIVE"
