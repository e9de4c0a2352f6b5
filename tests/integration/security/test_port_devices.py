"""A server's ports are the compute service's: another project cannot slip a port of its own
into a server by naming the server as the port's device, and a project cannot unplug one
through UpdatePort."""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2

from controller.compute.records import states
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.network.v1 import network_service_pb2 as npb
from tests.support.cloud import unique
from tests.support.errors import raises

C = grpc.StatusCode


def _their_network(world) -> str:
    metadata = world.metadata("other")
    network_id = world.network.CreateNetwork(
        npb.CreateNetworkRequest(network=npb.Network(name=unique("net"))), metadata=metadata
    ).id
    world.network.CreateSubnet(
        npb.CreateSubnetRequest(subnet=world.subnet(network_id)), metadata=metadata
    )
    return network_id


def test_another_project_cannot_plug_its_port_into_a_server(world, cloud):
    server_id = world.new_server(states.SHELVED_OFFLOADED)
    network_id = _their_network(world)
    with raises(C.PERMISSION_DENIED, "PORT_DEVICE_OWNED_BY_COMPUTE"):
        world.port("other", network_id=network_id, device_id=server_id, device_owner="compute:nova")
    # a label names any device, as in Neutron: it makes the port no server's
    label = world.port("other", network_id=network_id, device_id=server_id)
    world.compute.UnshelveServer(
        cpb.UnshelveServerRequest(id=server_id), metadata=world.metadata("member")
    )
    world.hosts.settle(server_id, states.ACTIVE)  # placed: the server's ports are bound
    got = world.network.GetPort(npb.GetPortRequest(id=label.id), metadata=cloud.admin)
    assert (got.device_id, got.binding_host) == (server_id, "")
    server = world.compute.GetServer(
        cpb.GetServerRequest(id=server_id), metadata=world.metadata("member")
    )
    assert label.fixed_ips[0].ip_address not in str(server)


def test_a_project_cannot_unplug_a_server_s_port_or_claim_one(world, cloud):
    server_id = world.new_server(states.ACTIVE)
    plugged = world.network.CreatePort(
        npb.CreatePortRequest(
            port=npb.Port(
                name=unique("port"),
                network_id=world.network_id,
                project_id=world.project_id,
                device_id=server_id,
                device_owner="compute:nova",
            )
        ),
        metadata=cloud.admin,
    )
    mine = world.port_id
    for port_id, field, value in (
        (plugged.id, "device_id", ""),
        (plugged.id, "device_owner", "mine"),
        (mine, "device_owner", "compute:nova"),
    ):
        with raises(C.PERMISSION_DENIED, "PORT_DEVICE_OWNED_BY_COMPUTE"):
            world.network.UpdatePort(
                npb.UpdatePortRequest(
                    port=npb.Port(id=port_id, **{field: value}),
                    update_mask=field_mask_pb2.FieldMask(paths=[field]),
                ),
                metadata=world.metadata("member"),
            )
    renamed = world.network.UpdatePort(
        npb.UpdatePortRequest(
            port=npb.Port(id=plugged.id, name="renamed"),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        ),
        metadata=world.metadata("member"),
    )
    assert (renamed.name, renamed.device_id) == ("renamed", server_id)
