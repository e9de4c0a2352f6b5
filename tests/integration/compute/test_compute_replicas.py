"""Two real controller processes on one database server (the run's PostgreSQL or MariaDB;
PostgreSQL in the SQLite run): 200 concurrent creates spread over both, against capacity for
100, place exactly 100 and overcommit no host."""

import datetime
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from stratus.compute.v1 import compute_service_pb2 as pb
from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.compute.compute_support import Compute
from tests.support.replicas import controller_replicas
from tests.support.sql import execute

pytestmark = pytest.mark.postgres

HOSTS, VCPUS = 10, 10


@pytest.fixture
def replicas(replica_server, tmp_path):
    with controller_replicas(replica_server, tmp_path, "replicas") as found:
        yield found


def test_two_replicas_never_overcommit(replicas):
    url, clouds = replicas
    for i in range(HOSTS):
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        execute(
            url,
            "INSERT INTO compute_node (id, hostname, availability_zone, enabled, "
            "disabled_reason, heartbeat_at, vcpus, memory_mb, memory_mb_reserved, disk_gb, "
            "cpu_allocation_ratio, architecture, hypervisor_type, hypervisor_version, host_ip, "
            "created_at, updated_at) VALUES (?, ?, 'nova', TRUE, '', "
            "?, ?, 65536, 0, 1000, 1.0, 'x86_64', 'qemu', '', '', ?, ?)",
            (str(uuid.uuid4()), f"replica-host-{i}", now, VCPUS, now, now),
        )
    first = Compute(clouds[0], images=None)
    flavor, image = first.flavor(vcpus=1, ram_mb=128), first.image()
    project = (
        clouds[0]
        .identity.ValidateToken(
            ipb.ValidateTokenRequest(token=clouds[0].admin_token), metadata=clouds[0].admin
        )
        .info.project_id
    )
    first.unlimited(project)
    computes = [Compute(cloud, images=None) for cloud in clouds]

    def create(i):
        compute = computes[i % 2]
        return compute.stub.CreateServer(
            pb.CreateServerRequest(
                server=pb.Server(name=f"r{i}", flavor_id=flavor.id, image_id=image)
            ),
            metadata=compute.cloud.admin,
        ).id

    with ThreadPoolExecutor(32) as pool:
        ids = list(pool.map(create, range(200)))
    assert len(set(ids)) == 200
    deadline = time.monotonic() + 120
    while execute(url, "SELECT COUNT(*) FROM instance WHERE task_state = 'scheduling'")[0][0]:
        assert time.monotonic() < deadline, "servers still scheduling"
        time.sleep(0.1)
    per_node = dict(execute(url, "SELECT node_id, SUM(vcpus) FROM allocation GROUP BY node_id"))
    assert sum(per_node.values()) == 100
    assert max(per_node.values()) <= VCPUS
    states = dict(execute(url, "SELECT vm_state, COUNT(*) FROM instance GROUP BY vm_state"))
    assert states == {"building": 100, "error": 100}
    faults = execute(url, "SELECT DISTINCT fault_message FROM instance WHERE vm_state = 'error'")
    assert faults == [("No valid host was found",)]
