"""The day-2 server commands through the real CLI code path (parsing, lookups, the request
sent), against a real grpc.aio server that stands where the controller would and records
what it is asked."""

import io

import pytest

from cli.errors import ExitCode
from cli.main import main
from stratus.compute.v1 import compute_service_pb2 as pb
from stratus.compute.v1 import compute_service_pb2_grpc as pb_grpc
from stratus.image.v1 import image_service_pb2 as image_pb
from stratus.image.v1 import image_service_pb2_grpc as image_grpc
from tests.unit.cli.building_compute import IMAGE_ID, SERVER_ID

FLAVOR_ID = "m1.small"
SNAPSHOT_ID = "7c1e9d2a-4b5f-4c6d-8e7f-0a1b2c3d4e5f"
DAY2 = (
    "LockServer",
    "UnlockServer",
    "RebuildServer",
    "ResizeServer",
    "ConfirmServerResize",
    "RevertServerResize",
    "MigrateServer",
    "EvacuateServer",
    "ShelveServer",
    "UnshelveServer",
)


def _server() -> pb.Server:
    return pb.Server(id=SERVER_ID, name="web1", status=pb.SERVER_STATUS_ACTIVE, revision=3)


class RecordingCompute(pb_grpc.ComputeServiceServicer):
    """Answers every day-2 call with the server, recording (method, request)."""

    def __init__(self):
        self.requests = []

    async def GetServer(self, request, context):
        return _server()

    async def GetFlavor(self, request, context):
        return pb.Flavor(id=FLAVOR_ID, name=FLAVOR_ID, vcpus=1, ram_mb=2048)

    async def CreateServerImage(self, request, context):
        self.requests.append(("CreateServerImage", request))
        return pb.CreateServerImageResponse(image_id=SNAPSHOT_ID, server=_server())


def _recorder(method):
    async def record(self, request, context):
        self.requests.append((method, request))
        return _server()

    return record


for _method in DAY2:
    setattr(RecordingCompute, _method, _recorder(_method))


class SnapshotImages(image_grpc.ImageServiceServicer):
    async def GetImage(self, request, context):
        return image_pb.Image(id=request.id, name="web1-snap", status=image_pb.IMAGE_STATUS_QUEUED)


@pytest.fixture
def day2(aio_server):
    compute = RecordingCompute()

    def register(server):
        pb_grpc.add_ComputeServiceServicer_to_server(compute, server)
        image_grpc.add_ImageServiceServicer_to_server(SnapshotImages(), server)

    address = aio_server(register)

    def run(*argv):
        compute.requests.clear()
        stdout, stderr = io.StringIO(), io.StringIO()
        code = main(
            ["--url", address, "--token", "t", "server", *map(str, argv)],
            env={},
            stdout=stdout,
            stderr=stderr,
        )
        return code, stdout.getvalue(), stderr.getvalue(), list(compute.requests)

    return run


@pytest.mark.parametrize(
    "argv, method, fields",
    [
        (["lock", SERVER_ID, "--reason", "audit"], "LockServer", {"reason": "audit"}),
        (["unlock", SERVER_ID], "UnlockServer", {}),
        (["resize", SERVER_ID, "--flavor", FLAVOR_ID], "ResizeServer", {"flavor_id": FLAVOR_ID}),
        (["resize", SERVER_ID, "--confirm"], "ConfirmServerResize", {}),
        (["resize", SERVER_ID, "--revert"], "RevertServerResize", {}),
        (["migrate", SERVER_ID], "MigrateServer", {}),
        (["evacuate", SERVER_ID], "EvacuateServer", {}),
        (["shelve", SERVER_ID], "ShelveServer", {}),
        (["unshelve", SERVER_ID], "UnshelveServer", {}),
        (
            ["rebuild", SERVER_ID, "--image", IMAGE_ID, "--name", "web2"],
            "RebuildServer",
            {"image_id": IMAGE_ID, "name": "web2"},
        ),
    ],
)
def test_each_command_sends_its_request_for_the_server(day2, argv, method, fields):
    code, _, err, requests = day2(*argv)
    assert code == 0, err
    [(called, request)] = requests
    assert called == method and request.id == SERVER_ID
    for name, value in fields.items():
        assert getattr(request, name) == value


def test_rebuild_sends_new_user_data_and_removes_the_key_pair(day2, tmp_path):
    user_data = tmp_path / "user-data"
    user_data.write_bytes(b"#cloud-config\n")
    code, _, err, [(_, request)] = day2(
        "rebuild", SERVER_ID, "--user-data", user_data, "--no-key-name"
    )
    assert code == 0, err
    assert request.user_data == b"#cloud-config\n"
    assert request.HasField("key_name") and request.key_name == ""
    assert not request.image_id  # the server's own image


def test_image_create_sends_the_name_and_properties_and_shows_the_image(day2):
    code, out, err, [(called, request)] = day2(
        "image",
        "create",
        SERVER_ID,
        "--name",
        "web1-snap",
        "--property",
        "os=debian",
        "-f",
        "value",
        "-c",
        "id",
    )
    assert code == 0, err
    assert called == "CreateServerImage" and request.server_id == SERVER_ID
    assert request.name == "web1-snap" and dict(request.metadata) == {"os": "debian"}
    assert out.strip() == SNAPSHOT_ID


@pytest.mark.parametrize(
    "argv",
    [
        ["resize", SERVER_ID],
        ["resize", SERVER_ID, "--confirm", "--revert"],
        ["resize", SERVER_ID, "--flavor", FLAVOR_ID, "--confirm"],
        ["lock"],
        ["migrate"],
    ],
)
def test_usage_errors_send_nothing(day2, argv):
    code, _, err, requests = day2(*argv)
    assert code == ExitCode.USAGE and requests == []
    assert "error: " in err
