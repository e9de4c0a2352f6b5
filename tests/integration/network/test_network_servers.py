"""Servers on networks, through a real node agent (libvirt's test driver) on the real node
stream: the server's port is made at create with an address from IPAM, bound to the host the
scheduler chose, carried in the spawn, shown in Server.addresses, and freed on delete."""

import uuid

import grpc
import pytest

from controller.compute.conductor import convert
from controller.compute.conductor.models import NodeCommand
from controller.compute.records.models import Instance
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.network.v1 import network_service_pb2 as npb
from tests.integration.compute_node.node_support import Node, Servers, upload_image
from tests.integration.compute_node.test_node_stream import zone_of
from tests.support.errors import raises

C = grpc.StatusCode


@pytest.fixture
def servers(cloud):
    """A project of its own per test: which networks it has decides auto-allocation."""
    return Servers(cloud)


@pytest.fixture(scope="module")
def image_id(cloud):
    return upload_image(cloud, b"\0" * (1 << 20), "raw")


@pytest.fixture
def node(controller, tmp_path):
    started = Node(controller, tmp_path / "node").start()
    yield started
    started.close()


@pytest.fixture
def lan(servers, networks):
    md = servers.tenant.metadata
    n = networks.network(md, "lan")
    s = networks.subnet(md, n.id, "10.31.0.0/24")
    return n, s


def _spawn(controller, server_id):
    row = controller.app.db.call(
        lambda: (
            NodeCommand.select()
            .where(NodeCommand.instance_id == server_id, NodeCommand.kind == "spawn")
            .get()
        )
    )
    return convert.command(row).command.spawn


def _count_servers(controller, project_id):
    return controller.app.db.call(
        lambda: Instance.select().where(Instance.project_id == project_id).count()
    )


def test_a_server_gets_its_port_address_and_frees_it_on_delete(
    controller, node, servers, image_id, networks, lan, cloud
):
    n, s = lan
    md = servers.tenant.metadata
    server_id = servers.create(
        servers.flavor(),
        image_id,
        zone_of(controller, node),
        networks=[cpb.ServerNetwork(network_id=n.id, fixed_ip="10.31.0.50")],
    )
    active = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    (port,) = networks.ports(cloud.admin, device_id=server_id, all_projects=True)
    assert [(a.network, a.address, a.version, a.mac_address) for a in active.addresses] == [
        ("lan", "10.31.0.50", 4, port.mac_address)
    ]
    assert (port.device_owner, port.binding_host) == ("compute:nova", node.host)
    assert port.status == npb.PORT_STATUS_BUILD  # until the node reports it wired
    (spawned,) = _spawn(controller, server_id).ports
    assert (spawned.port_id, spawned.mac_address, spawned.instance_id, spawned.mtu) == (
        port.id,
        port.mac_address,
        server_id,
        1450,
    )
    assert [(f.subnet_id, f.ip_address) for f in spawned.fixed_ips] == [(s.id, "10.31.0.50")]

    servers.delete(server_id)
    servers.wait_deleted(server_id)
    assert networks.ports(md, network_id=n.id) == []
    again = networks.port(md, n.id, fixed_ips=[npb.FixedIp(ip_address="10.31.0.50")])
    assert again.fixed_ips[0].ip_address == "10.31.0.50"


def test_a_port_given_to_a_server_is_plugged_then_kept(
    controller, node, servers, image_id, networks, lan
):
    n, _ = lan
    md = servers.tenant.metadata
    mine = networks.port(md, n.id, name="mine")
    zone = zone_of(controller, node)
    server_id = servers.create(
        servers.flavor(),
        image_id,
        zone,
        networks=[cpb.ServerNetwork(port_id=mine.id)],
    )
    active = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    assert [a.address for a in active.addresses] == [mine.fixed_ips[0].ip_address]
    with raises(C.FAILED_PRECONDITION, "PORT_IN_USE"):
        servers.create(servers.flavor(), image_id, networks=[cpb.ServerNetwork(port_id=mine.id)])
    servers.delete(server_id)
    servers.wait_deleted(server_id)
    (kept,) = networks.ports(md, network_id=n.id)
    assert (kept.id, kept.device_id, kept.binding_host) == (mine.id, "", "")
    assert kept.fixed_ips == mine.fixed_ips
    retry = cpb.CreateServerRequest(
        server=cpb.Server(
            name="again",
            flavor_id=servers.flavor(),
            image_id=image_id,
            availability_zone=zone,
            networks=[cpb.ServerNetwork(port_id=mine.id)],
        ),
        request_id=str(uuid.uuid4()),
    )
    first = servers.stub.CreateServer(retry, metadata=md)
    assert servers.stub.CreateServer(retry, metadata=md).id == first.id  # a retry, not a refusal
    servers.delete(first.id)
    servers.wait_deleted(first.id)


def test_one_usable_network_is_given_and_two_need_a_choice(
    controller, node, servers, image_id, networks, lan
):
    md = servers.tenant.metadata
    zone = zone_of(controller, node)
    auto = servers.wait_status(
        servers.create(servers.flavor(), image_id, zone), cpb.SERVER_STATUS_ACTIVE
    )
    assert [a.network for a in auto.addresses] == ["lan"]
    bare = servers.wait_status(
        servers.create(servers.flavor(), image_id, zone, no_network=True),
        cpb.SERVER_STATUS_ACTIVE,
    )
    assert [a.network for a in bare.addresses] == ["user"]  # the node's own network only
    second = networks.network(md, "second")
    networks.subnet(md, second.id, "10.32.0.0/24")
    before = _count_servers(controller, servers.tenant.project_id)
    with raises(C.FAILED_PRECONDITION, "NETWORK_AMBIGUOUS"):
        servers.create(servers.flavor(), image_id, zone)
    assert _count_servers(controller, servers.tenant.project_id) == before
    for server in (auto, bare):
        servers.delete(server.id)
        servers.wait_deleted(server.id)


def test_bad_networks_refuse_the_server_and_record_nothing(
    controller, servers, image_id, networks, lan, cloud
):
    n, _ = lan
    md = servers.tenant.metadata
    networks.port(md, n.id, fixed_ips=[npb.FixedIp(ip_address="10.31.0.9")])
    theirs = networks.network(cloud.tenant().metadata, "theirs")  # a member sees it not
    empty = networks.network(md, "empty")
    flavor = servers.flavor()
    before = _count_servers(controller, servers.tenant.project_id)
    for nic, code, reason in (
        (
            cpb.ServerNetwork(network_id=n.id, fixed_ip="10.31.0.9"),
            C.ALREADY_EXISTS,
            "IP_ADDRESS_IN_USE",
        ),
        (cpb.ServerNetwork(network_id=n.id, fixed_ip="10.99.0.9"), C.INVALID_ARGUMENT, None),
        (cpb.ServerNetwork(network_id=empty.id), C.FAILED_PRECONDITION, "NETWORK_HAS_NO_SUBNET"),
        (cpb.ServerNetwork(), C.INVALID_ARGUMENT, None),
        (cpb.ServerNetwork(network_id="not-a-uuid"), C.INVALID_ARGUMENT, None),
    ):
        with raises(code, reason):
            servers.create(flavor, image_id, networks=[nic])
    assert _count_servers(controller, servers.tenant.project_id) == before
    member = cloud.tenant()
    networks.stub.UpdateNetworkQuotas(
        npb.UpdateNetworkQuotasRequest(
            quotas=npb.NetworkQuotas(
                project_id=member.project_id, limits=npb.NetworkQuotaValues(ports=0)
            ),
            update_mask={"paths": ["limits.ports"]},
        ),
        metadata=cloud.admin,
    )
    shared = networks.network(cloud.admin, "shared-quota", shared=True)
    try:
        networks.subnet(cloud.admin, shared.id, "10.33.0.0/24")
        with raises(C.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED"):
            servers.stub.CreateServer(
                cpb.CreateServerRequest(
                    server=cpb.Server(
                        name="x",
                        flavor_id=flavor,
                        image_id=image_id,
                        networks=[cpb.ServerNetwork(network_id=shared.id)],
                    )
                ),
                metadata=member.metadata,
            )
    finally:
        networks.stub.DeleteNetwork(npb.DeleteNetworkRequest(id=shared.id), metadata=cloud.admin)
    with raises(C.NOT_FOUND, "NETWORK_NOT_FOUND"):
        servers.stub.CreateServer(
            cpb.CreateServerRequest(
                server=cpb.Server(
                    name="x",
                    flavor_id=flavor,
                    image_id=image_id,
                    networks=[cpb.ServerNetwork(network_id=theirs.id)],
                )
            ),
            metadata=member.metadata,
        )
    assert _count_servers(controller, member.project_id) == 0
