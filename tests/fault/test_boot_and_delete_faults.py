"""kill -9 of the controller and of a node agent at each step of a boot and of a delete
(steps: docs/dev/fault-injection.md). The killed process is started again; then every server
ends where it should, and `Cluster.check` finds nothing lost, duplicated, leaked, booted twice
or left half done."""

import pytest

from tests.fault.conftest import needs_daemons

pytestmark = needs_daemons

CONTROLLER_BOOT = [
    "claim.before",
    "claim.committed",
    "image.serving",
    "result.received",
    "result.applied",
]
AGENT_BOOT = [
    "command.received",
    "command.started",
    "image.receiving",
    "domain.defined",
    "domain.started",
    "result.recorded",
]
CONTROLLER_DELETE = ["destroy.written", "result.received", "result.applied"]
SLOTS = 4  # [compute] concurrency: spawns an agent runs at once
AGENT_DELETE = ["command.received", "command.started", "domain.powered_off", "result.recorded"]


@pytest.mark.parametrize("step", CONTROLLER_BOOT)
def test_controller_killed_during_a_boot(healthy, step):
    cluster = healthy
    image_id = cluster.fresh_image()
    cluster.arm(cluster.controller, step)
    create = cluster.meanwhile(lambda: cluster.create(image_id))
    cluster.wait_fault(cluster.controller, step)
    cluster.revive(cluster.controller)
    server_id = create.result()
    cluster.settle([server_id])
    unavailable = [
        r
        for node in cluster.nodes
        for r in cluster.results(node, {server_id})
        if r.error_code == "IMAGE_UNAVAILABLE"
    ]
    assert unavailable == [], "a controller restart failed an image fetch"
    cluster.check()


@pytest.mark.parametrize("step", AGENT_BOOT)
def test_agent_killed_during_a_boot(healthy, step):
    cluster = healthy
    node = cluster.nodes[0]
    cluster.only(node)  # the spawn goes to the armed agent
    cluster.arm(node, step)
    server_id = cluster.create(cluster.fresh_image())
    cluster.wait_fault(node, step)
    cluster.enable_all()  # an interrupted spawn may be tried on another host
    cluster.revive(node)
    cluster.settle([server_id])
    cluster.check()


@pytest.mark.parametrize(
    "who, step",
    [("controller", step) for step in CONTROLLER_DELETE]
    + [("agent", step) for step in AGENT_DELETE],
)
def test_killed_during_a_delete(healthy, who, step):
    cluster = healthy
    server_id = cluster.create()
    cluster.settle([server_id])
    victim = cluster.controller if who == "controller" else cluster.node_of(server_id)
    cluster.arm(victim, step)
    delete = cluster.meanwhile(lambda: cluster.delete(server_id))
    cluster.wait_fault(victim, step)
    cluster.revive(victim)
    delete.result()
    cluster.settle([server_id])
    assert cluster.get(server_id) is None
    cluster.check()


def test_builds_only_queued_on_a_node_survive_its_restart(healthy):
    """Three times as many spawns as run slots reach one agent at once; it is killed as the
    first guest starts. Only spawns that had begun may be interrupted (and tried elsewhere):
    the queued ones run on their host after the restart, and every server becomes ACTIVE."""
    cluster = healthy
    node = cluster.nodes[0]
    image_id = cluster.fresh_image()
    cluster.only(node)
    cluster.arm(node, "domain.started")
    cluster.pause(node)  # the spawns arrive together when it resumes
    servers = [cluster.create(image_id) for _ in range(3 * SLOTS)]
    cluster.resume(node)
    cluster.wait_fault(node, "domain.started")
    cluster.enable_all()
    cluster.revive(node)
    cluster.settle(servers)
    # the killed spawn's guest runs: at most the other slots' spawns were interrupted
    interrupted = [r for r in cluster.results(node, servers) if r.error_code == "INTERRUPTED"]
    assert len(interrupted) <= SLOTS - 1
    stayed = [s for s in servers if cluster.get(s).host == node.host]
    assert len(stayed) >= len(servers) - (SLOTS - 1)
    cluster.check()
