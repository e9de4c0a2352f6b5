"""`server create --config-drive true|false --user-data FILE --key-name NAME`: what the CLI
sends, against a real grpc.aio server."""
import io
import json

import grpc
import pytest

from cli.errors import ExitCode
from cli.main import main
from stratus.compute.v1 import compute_service_pb2 as pb
from stratus.compute.v1 import compute_service_pb2_grpc as pb_grpc

IMAGE_ID = "5f0f2a0e-3b7c-4e3c-b1c4-9f6f0b1e2a33"


class RecordingCompute(pb_grpc.ComputeServiceServicer):
    def __init__(self):
        self.created = []

    async def GetFlavor(self, request, context):
        if request.id != "m1.tiny":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no flavor")
        return pb.Flavor(id="m1.tiny", name="m1.tiny", vcpus=1, ram_mb=512)

    async def CreateServer(self, request, context):
        self.created.append(request)
        server = pb.Server()
        server.CopyFrom(request.server)
        server.id, server.status = "0b8a3f5e-8d4e-4a53-9a43-1f4f2b1c9d10", pb.SERVER_STATUS_BUILD
        if not server.HasField("config_drive"):   # the API's default
            server.config_drive = True
        return server


@pytest.fixture
def compute(aio_server):
    servicer = RecordingCompute()
    address = aio_server(
        lambda server: pb_grpc.add_ComputeServiceServicer_to_server(servicer, server))
    return servicer, address


def create(address, *argv):
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["--url", address, "--token", "t", "server", "create", "web1", "--flavor",
                 "m1.tiny", "--image", IMAGE_ID, "-f", "json", *argv], env={},
                stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.mark.parametrize("flag,sent", [("false", False), ("true", True), ("False", False)])
def test_config_drive_flag_is_sent_as_asked(compute, flag, sent):
    servicer, address = compute
    code, out, err = create(address, "--config-drive", flag)
    assert code == 0, err
    [request] = servicer.created
    assert request.server.HasField("config_drive") and request.server.config_drive is sent
    assert json.loads(out)["config_drive"] is sent


def test_without_the_flag_the_api_decides(compute):
    servicer, address = compute
    code, out, err = create(address)
    assert code == 0, err
    [request] = servicer.created
    assert not request.server.HasField("config_drive")
    assert json.loads(out)["config_drive"] is True


def test_user_data_file_and_key_name_are_sent(compute, tmp_path):
    servicer, address = compute
    script = tmp_path / "boot.sh"
    script.write_bytes(b"#!/bin/sh\necho hi\n\xff")
    code, out, err = create(address, "--user-data", str(script), "--key-name", "alice")
    assert code == 0, err
    [request] = servicer.created
    assert request.server.user_data == script.read_bytes()
    assert request.server.key_name == "alice"
    assert "user_data" not in json.loads(out)


def test_a_config_drive_value_other_than_true_or_false_is_a_usage_error(compute):
    servicer, address = compute
    code, _out, err = create(address, "--config-drive", "maybe")
    assert code == ExitCode.USAGE and "--config-drive" in err
    assert servicer.created == []
