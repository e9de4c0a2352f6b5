"""The Prometheus endpoints of a real controller and a real node agent, scraped before and
after real traffic: every figure README's metrics table promises moves with what was done."""

from __future__ import annotations

import time
import uuid

import grpc
import pytest

from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.identity.v1 import identity_service_pb2 as idpb
from stratus.image.v1 import image_service_pb2 as ipb
from stratus.image.v1 import image_service_pb2_grpc as ipb_grpc
from tests.e2e.compute_node.e2e_support import ComputeProcess, Controller
from tests.integration.compute_node.node_support import Servers, upload_image
from tests.support.cloud import Cloud
from tests.support.ports import free_port
from tests.support.scrape import scrape

WAIT = 120
MIB = 1 << 20
CALLS = "stratus_rpc_duration_seconds_count"
CREATE = "/stratus.compute.v1.ComputeService/CreateServer"
GET = "/stratus.compute.v1.ComputeService/GetServer"
CONNECT = "/stratus.node.v1.NodeService/Connect"


@pytest.fixture
def running(tmp_path):
    ctl_port, node_port = free_port(), free_port()
    controller = Controller(tmp_path / "ctl", f'[metrics]\nlisten = "127.0.0.1:{ctl_port}"\n')
    controller.start()
    cloud = Cloud(controller.address)
    node = ComputeProcess(
        tmp_path / "node",
        "metrics.node.test",
        controller,
        cloud,
        extra=f'[metrics]\nlisten = "127.0.0.1:{node_port}"\n',
    )
    try:
        yield controller, cloud, node, ctl_port, node_port
    finally:
        if node.running():
            node.terminate()
        cloud.close()
        controller.stop()


def test_metrics_follow_real_traffic(running):
    _controller, cloud, node, ctl_port, node_port = running
    before = scrape(ctl_port)
    assert before.get_value("stratus_compute_nodes", status="up") == 0
    assert before.get_value("stratus_node_streams_open") == 0

    node.start()
    node_before = scrape(node_port)
    assert node_before.get_value("stratus_node_stream_connected") == 1
    assert node_before.get_value("stratus_node_guests", state="running") == 0
    servers = Servers(cloud)
    flavor = servers.flavor(ram_mb=128)
    image = upload_image(cloud, b"\1" * MIB, "raw")
    server_id = servers.create(flavor, image)
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE, WAIT)
    with pytest.raises(grpc.RpcError):
        servers.get(str(uuid.uuid4()))
    with pytest.raises(grpc.RpcError):  # a token no cache holds
        servers.stub.GetServer(
            cpb.GetServerRequest(id=server_id), metadata=(("authorization", "Bearer forged"),)
        )
    for _ in range(3):
        cloud.identity.ValidateToken(
            idpb.ValidateTokenRequest(token=servers.tenant.token), metadata=cloud.admin
        )
    images = ipb_grpc.ImageServiceStub(cloud.channel)
    downloaded = sum(
        len(r.data)
        for r in images.DownloadImageData(
            ipb.DownloadImageDataRequest(image_id=image), metadata=cloud.admin
        )
    )
    assert downloaded == MIB

    after = scrape(ctl_port)

    def grew(name: str, **labels: str) -> float:
        return after.get_value(name, **labels) - before.get_value(name, **labels)

    # Calls by method and code, with their latency.
    assert grew(CALLS, method=CREATE, code="OK") == 1
    assert grew(CALLS, method=GET, code="NOT_FOUND") == 1
    assert grew("stratus_rpc_duration_seconds_bucket", method=CREATE, code="OK", le="+Inf") == 1
    assert grew("stratus_rpc_duration_seconds_sum", method=CREATE, code="OK") > 0
    # Scheduling.
    assert grew("stratus_scheduler_decisions_total", result="placed") == 1
    assert grew("stratus_scheduler_decision_duration_seconds_count") == 1
    # Nodes and streams.
    assert after.get_value("stratus_compute_nodes", status="up") == 1
    assert after.get_value("stratus_compute_nodes", status="down") == 0
    assert after.get_value("stratus_node_streams_open") == 1
    assert grew(CALLS, method=GET, code="UNAUTHENTICATED") == 1
    # The token cache: tokens issued here are cached from the start; the forged one was not.
    assert grew("stratus_token_cache_lookups_total", result="hit") >= 3
    assert grew("stratus_token_cache_lookups_total", result="miss") == 1
    # Image bytes, each way.
    assert grew("stratus_image_bytes_total", direction="upload") == MIB
    assert grew("stratus_image_bytes_total", direction="download") == MIB
    assert grew("stratus_image_bytes_total", direction="node_fetch") == MIB
    # The outbox has finished its work.
    assert after.get_value("stratus_outbox_commands", state="pending") == 0
    assert after.get_value("stratus_outbox_commands", state="delivered") == 0
    assert after.get_value("stratus_outbox_oldest_command_age_seconds") == 0

    node_after = scrape(node_port)
    assert node_after.get_value("stratus_node_guests", state="running") == 1
    assert node_after.get_value("stratus_node_image_bytes_fetched_total") == MIB
    assert node_after.get_value("stratus_node_stream_sessions") == 1

    # The node away: a command waits in the outbox, and its age shows.
    node.terminate()
    servers.delete(server_id)
    waiting = scrape_until(ctl_port, lambda m: m.get_value("stratus_node_streams_open") == 0)
    assert waiting.get_value("stratus_outbox_commands", state="pending") == 1
    assert waiting.get_value("stratus_outbox_oldest_command_age_seconds") > 0
    assert waiting.get_value(CALLS, method=CONNECT, code="CANCELLED") == 1
    # Back: the command is delivered and done.
    node.start()
    servers.wait_deleted(server_id, WAIT)
    scrape_until(ctl_port, lambda m: m.get_value("stratus_outbox_commands", state="pending") == 0)
    assert scrape(node_port).get_value("stratus_node_guests", state="running") == 0


def scrape_until(port: int, predicate, timeout: float = WAIT):
    """The first scrape for which `predicate` holds (the controller sees a stream end a moment
    after the node's process has)."""
    deadline = time.monotonic() + timeout
    while not predicate(sample := scrape(port)):
        assert time.monotonic() < deadline, f"no scrape matched within {timeout} s"
        time.sleep(0.2)
    return sample
