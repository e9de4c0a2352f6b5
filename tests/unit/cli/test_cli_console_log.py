"""`console log show` through the real CLI code path, against a real grpc.aio server that
speaks stratus.compute.v1 and answers as the controller does."""

import io

import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from cli.errors import ExitCode
from cli.main import main
from stratus.compute.v1 import compute_service_pb2 as pb
from stratus.compute.v1 import compute_service_pb2_grpc as pb_grpc

SERVER_ID = "0b8a3f5e-8d4e-4a53-9a43-1f4f2b1c9d10"


class Console(pb_grpc.ComputeServiceServicer):
    def __init__(self, answer):
        self.answer = answer  # the output, or the status to abort with

    async def GetServer(self, request, context):
        return pb.Server(id=SERVER_ID, name="web1", host="node-1")

    async def GetConsoleOutput(self, request, context):
        if isinstance(self.answer, str):
            return pb.ConsoleOutput(server_id=SERVER_ID, output=self.answer)
        await context.abort(self.answer.code, self.answer.details, self.answer.trailing_metadata)


def host_error(message: str):
    """The controller's answer when the node reports a failure (HOST_ERROR)."""
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason="HOST_ERROR", domain="stratus"))
    return rpc_status.to_status(
        status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message, details=[info])
    )


@pytest.fixture
def console(aio_server):
    def start(answer):
        return aio_server(
            lambda server: pb_grpc.add_ComputeServiceServicer_to_server(Console(answer), server)
        )

    return start


def run(address, *argv):
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["--url", address, "--token", "t", *argv], env={}, stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def test_output_is_printed_as_is(console):
    assert run(console("boot\nlogin: "), "console", "log", "show", SERVER_ID) == (
        0,
        "boot\nlogin: \n",
        "",
    )


def test_an_empty_console_log_says_so_on_stderr(console):
    code, out, err = run(console(""), "console", "log", "show", SERVER_ID)
    assert (code, out) == (0, "")
    assert err == (
        "stratus: the console log of server web1 is empty: its guest has written "
        "nothing to its serial console\n"
    )


def test_a_missing_instance_on_the_node_is_not_blamed_on_the_controller(console):
    address = console(host_error(f"console output failed: instance {SERVER_ID} is not here"))
    code, out, err = run(address, "console", "log", "show", SERVER_ID)
    assert (code, out) == (ExitCode.UNREACHABLE, "")
    assert err.startswith(
        f"stratus: UNAVAILABLE: console output failed: instance {SERVER_ID} "
        "is not here. The server's compute host reported this failure"
    )
    assert "controller is running" not in err
