"""A compute service that plays a server's build for the CLI's unit tests: BUILD (scheduling,
spawning), then ACTIVE or ERROR, over a real grpc.aio server (conftest.py's aio_server). It
stands where the controller would, at the edge of what these tests run."""

import asyncio

import grpc
import pytest

from stratus.compute.v1 import compute_service_pb2 as pb
from stratus.compute.v1 import compute_service_pb2_grpc as pb_grpc

SERVER_ID = "0b8a3f5e-8d4e-4a53-9a43-1f4f2b1c9d10"
IMAGE_ID = "5f0f2a0e-3b7c-4e3c-b1c4-9f6f0b1e2a33"


class BuildingCompute(pb_grpc.ComputeServiceServicer):
    """Builds every server towards `outcome`, one revision per step."""

    def __init__(self, outcome, pause: float = 0):
        self.outcome = outcome
        self.pause = pause  # before each step of the build
        self.calls = []
        self.created = []
        self.watched = []

    def _steps(self, base):
        steps = [(pb.SERVER_STATUS_BUILD, pb.TASK_STATE_SPAWNING)]
        if self.outcome == "ACTIVE":
            steps.append((pb.SERVER_STATUS_ACTIVE, pb.TASK_STATE_NONE))
        else:
            steps.append((pb.SERVER_STATUS_ERROR, pb.TASK_STATE_NONE))
        for revision, (status, task) in enumerate(steps, start=base.revision + 1):
            server = pb.Server()
            server.CopyFrom(base)
            server.status, server.task_state, server.revision = status, task, revision
            if status == pb.SERVER_STATUS_ERROR:
                server.fault.message, server.fault.code = "No valid host was found", 500
            yield server

    async def GetFlavor(self, request, context):
        self.calls.append("GetFlavor")
        if request.id != "m1.tiny":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no flavor")
        return pb.Flavor(id="m1.tiny", name="m1.tiny", vcpus=1, ram_mb=512)

    async def CreateServer(self, request, context):
        self.calls.append("CreateServer")
        self.created.append(request)
        server = pb.Server()
        server.CopyFrom(request.server)
        server.id, server.status, server.revision = SERVER_ID, pb.SERVER_STATUS_BUILD, 7
        server.task_state = pb.TASK_STATE_SCHEDULING
        server.flavor.name = "m1.tiny"
        self.base = server
        return server

    async def WatchServers(self, request, context):
        self.watched.append(request)
        for server in self._steps(self.base):
            await asyncio.sleep(self.pause)
            yield pb.WatchServersResponse(server=server, revision=server.revision)


@pytest.fixture
def compute_server(aio_server):
    """Serves BuildingCompute(outcome); returns (servicer, address)."""

    def start(outcome, pause=0):
        servicer = BuildingCompute(outcome, pause)
        return servicer, aio_server(
            lambda server: pb_grpc.add_ComputeServiceServicer_to_server(servicer, server)
        )

    return start
