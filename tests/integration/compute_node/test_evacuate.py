"""EvacuateServer through real agents on libvirt's test driver: a server of a dead host is
built again on another, and the dead host, when it comes back, destroys its old copy."""

import grpc

from controller.compute.records.models import Allocation, ComputeNode, HostCleanup
from stratus.compute.v1 import compute_service_pb2 as cpb
from tests.integration.compute_node.node_support import actions_of
from tests.integration.compute_node.test_node_stream import wait_until
from tests.support.errors import raises


def _set(controller, node, **values):
    controller.app.db.call(
        lambda: ComputeNode.update(**values).where(ComputeNode.id == node.node_id).execute()
    )
    controller.app.compute_placement.invalidate()


def _evacuate(servers, server_id, metadata=None):
    return servers.stub.EvacuateServer(
        cpb.EvacuateServerRequest(id=server_id), metadata=metadata or servers.cloud.admin
    )


def test_a_server_of_a_dead_host_is_built_again_elsewhere_and_the_old_copy_destroyed(
    controller,
    node,
    second_node,
    servers,
    image_id,
    cloud,
):
    zone = controller.app.db.call(lambda: ComputeNode.get_by_id(node.node_id).availability_zone)
    server_id = servers.create(servers.flavor(), image_id, zone)
    first = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    dead, alive = (node, second_node) if first.host == node.host else (second_node, node)
    member = cloud.tenant(role="member", project_id=servers.tenant.project_id)
    with raises(grpc.StatusCode.PERMISSION_DENIED):
        _evacuate(servers, server_id, member.metadata)
    with raises(grpc.StatusCode.FAILED_PRECONDITION, "HOST_NOT_DOWN_AND_DISABLED"):
        _evacuate(servers, server_id)  # its host is up
    dead.stop()
    _set(controller, dead, forced_down=True)
    with raises(grpc.StatusCode.FAILED_PRECONDITION, "HOST_NOT_DOWN_AND_DISABLED"):
        _evacuate(servers, server_id)  # down, but not disabled
    assert servers.get(server_id).host == dead.host
    _set(controller, dead, enabled=False)
    _evacuate(servers, server_id)
    rebuilt = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    assert rebuilt.host == alive.host
    assert server_id in alive.driver.list_instances()
    allocations = controller.app.db.call(
        lambda: [
            (a.node_id, a.instance_id)
            for a in Allocation.select().where(Allocation.instance_id == server_id)
        ]
    )
    assert allocations == [(alive.node_id, server_id)]
    assert server_id in dead.driver.list_instances()  # the dead host has not heard yet
    _set(controller, dead, forced_down=False, enabled=True)
    dead.start()
    wait_until(lambda: server_id not in dead.driver.list_instances(), "the old copy destroyed")
    wait_until(
        lambda: (
            not controller.app.db.call(
                lambda: HostCleanup.select().where(HostCleanup.instance_id == server_id).exists()
            )
        ),
        "the cleanup done",
    )
    still = servers.get(server_id)
    assert (still.status, still.host) == (cpb.SERVER_STATUS_ACTIVE, alive.host)
    assert server_id in alive.driver.list_instances()
    assert [a for a, _ in actions_of(controller, server_id)] == ["create", "evacuate"]
    assert actions_of(controller, server_id)[-1] == ("evacuate", "success")
