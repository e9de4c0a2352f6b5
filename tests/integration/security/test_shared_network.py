"""A shared network is every project's to see and to plug into, as in Neutron; the ports on
it stay their own project's: another project's port is NOT_FOUND and left out of lists."""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2

from stratus.network.v1 import network_service_pb2 as npb
from tests.support.cloud import unique
from tests.support.errors import raises

C = grpc.StatusCode


def test_a_shared_network_is_seen_by_all_but_its_ports_only_by_their_project(world, cloud):
    net = world.network
    shared = net.CreateNetwork(
        npb.CreateNetworkRequest(network=npb.Network(name=unique("shared"), shared=True)),
        metadata=cloud.admin,
    )
    ports = []
    try:
        subnet = net.CreateSubnet(
            npb.CreateSubnetRequest(subnet=world.subnet(shared.id)), metadata=cloud.admin
        )
        theirs = world.port("other", network_id=shared.id)
        mine = world.port("member", network_id=shared.id)
        ports += [theirs, mine]
        for who in ("member", "reader"):
            metadata = world.metadata(who)
            assert net.GetNetwork(npb.GetNetworkRequest(id=shared.id), metadata=metadata).shared
            listed = net.ListNetworks(npb.ListNetworksRequest(), metadata=metadata).networks
            assert shared.id in {n.id for n in listed}
            got = net.GetSubnet(npb.GetSubnetRequest(id=subnet.id), metadata=metadata)
            assert got.network_id == shared.id
            on_it = net.ListPorts(
                npb.ListPortsRequest(network_id=shared.id), metadata=metadata
            ).ports
            assert [p.id for p in on_it] == [mine.id]
        member = world.metadata("member")
        with raises(C.NOT_FOUND, "PORT_NOT_FOUND"):
            net.GetPort(npb.GetPortRequest(id=theirs.id), metadata=member)
        with raises(C.NOT_FOUND, "PORT_NOT_FOUND"):
            net.UpdatePort(
                npb.UpdatePortRequest(
                    port=npb.Port(id=theirs.id, name="mine"),
                    update_mask=field_mask_pb2.FieldMask(paths=["name"]),
                ),
                metadata=member,
            )
        with raises(C.NOT_FOUND, "PORT_NOT_FOUND"):
            net.DeletePort(npb.DeletePortRequest(id=theirs.id), metadata=member)
        with raises(C.PERMISSION_DENIED, "NETWORK_NOT_OWNED"):
            net.CreateSubnet(
                npb.CreateSubnetRequest(
                    subnet=npb.Subnet(
                        name=unique("subnet"),
                        network_id=shared.id,
                        ip_version=4,
                        cidr="10.21.0.0/24",
                    )
                ),
                metadata=member,
            )
        assert net.GetPort(npb.GetPortRequest(id=theirs.id), metadata=cloud.admin).name
    finally:
        for port in ports:
            net.DeletePort(npb.DeletePortRequest(id=port.id), metadata=cloud.admin)
        net.DeleteNetwork(npb.DeleteNetworkRequest(id=shared.id), metadata=cloud.admin)
