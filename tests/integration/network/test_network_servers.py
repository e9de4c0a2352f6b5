"""Servers on networks, through a real node agent (libvirt's test driver) on the real node
stream: the server's port is made at create with an address from IPAM, bound to the host the
scheduler chose, carried in the spawn, shown in Server.addresses, and freed on delete; it
follows its server to another host and back, bound once each time."""

import time
import uuid

import grpc
import pytest

from compute_node.network.model import PortStatus
from controller.compute.conductor import convert
from controller.compute.conductor.models import NodeCommand
from controller.compute.records.models import Instance
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.network.v1 import network_service_pb2 as npb
from tests.integration.compute_node.node_support import (
    Node,
    Servers,
    start_in_zone,
    upload_image,
)
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


def _spawns(controller, server_id):
    """The SpawnActions the server's nodes were sent (a rebuild's inside it), oldest first."""
    rows = controller.app.db.call(
        lambda: list(
            NodeCommand.select()
            .where(NodeCommand.instance_id == server_id, NodeCommand.kind.in_(("spawn", "rebuild")))
            .order_by(NodeCommand.created_at)
        )
    )
    sent = [convert.command(row).command for row in rows]
    return [c.rebuild.spawn if c.HasField("rebuild") else c.spawn for c in sent]


def _port_of(networks, cloud, server_id):
    (port,) = networks.ports(cloud.admin, device_id=server_id, all_projects=True)
    return port


def _network_changes(controller) -> int:
    """The network area's change counter: each binding moves it once, and every node
    session then computes its node's wiring again."""
    return controller.app.db.call(controller.app.network_port.revision)


def _wired(node, networks, cloud, server_id):
    """The node reports the server's port wired, as its network wiring does; the status
    users see follows."""
    port_id = _port_of(networks, cloud, server_id).id
    node.report_ports({port_id: PortStatus.ACTIVE})
    deadline = time.monotonic() + 30
    while _port_of(networks, cloud, server_id).status != npb.PORT_STATUS_ACTIVE:
        assert time.monotonic() < deadline, "the port's status did not follow the report"
        time.sleep(0.05)


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
    (spawned,) = _spawns(controller, server_id)[0].ports
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


def test_a_resized_server_takes_its_port_along_bound_once(
    controller, node, servers, image_id, networks, lan, cloud, tmp_path
):
    n, _ = lan
    zone = zone_of(controller, node)
    second = start_in_zone(controller, tmp_path / "second", zone)
    try:
        server_id = servers.create(
            servers.flavor(), image_id, zone, networks=[cpb.ServerNetwork(network_id=n.id)]
        )
        first = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
        source, dest = (node, second) if first.host == node.host else (second, node)
        _wired(source, networks, cloud, server_id)
        before = _network_changes(controller)

        servers.stub.ResizeServer(  # the same host is not allowed: the other one
            cpb.ResizeServerRequest(id=server_id, flavor_id=servers.flavor(ram_mb=512)),
            metadata=servers.tenant.metadata,
        )
        moved = servers.wait_status(server_id, cpb.SERVER_STATUS_VERIFY_RESIZE)
        port = _port_of(networks, cloud, server_id)
        assert (moved.host, port.binding_host) == (dest.host, dest.host)
        assert port.status == npb.PORT_STATUS_BUILD  # until the destination wires it
        (spawned,) = [p.port_id for p in _spawns(controller, server_id)[-1].ports]
        assert spawned == port.id
        assert _network_changes(controller) == before + 1  # bound to it once, not twice
        _wired(dest, networks, cloud, server_id)

        servers.stub.RevertServerResize(
            cpb.RevertServerResizeRequest(id=server_id), metadata=servers.tenant.metadata
        )
        back = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
        port = _port_of(networks, cloud, server_id)
        assert (back.host, port.binding_host, port.status) == (
            source.host,
            source.host,
            npb.PORT_STATUS_BUILD,
        )
        assert _network_changes(controller) == before + 2
        _wired(source, networks, cloud, server_id)
        servers.delete(server_id)
        servers.wait_deleted(server_id)
    finally:
        second.close()


def test_a_rebuild_on_its_host_leaves_the_port_as_its_node_wired_it(
    controller, node, servers, image_id, networks, lan, cloud
):
    n, _ = lan
    server_id = servers.create(
        servers.flavor(),
        image_id,
        zone_of(controller, node),
        networks=[cpb.ServerNetwork(network_id=n.id)],
    )
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    _wired(node, networks, cloud, server_id)
    before = _network_changes(controller)
    servers.stub.RebuildServer(
        cpb.RebuildServerRequest(id=server_id, image_id=image_id), metadata=servers.tenant.metadata
    )
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    port = _port_of(networks, cloud, server_id)
    assert [p.port_id for p in _spawns(controller, server_id)[-1].ports] == [port.id]
    assert (port.binding_host, port.status) == (node.host, npb.PORT_STATUS_ACTIVE)
    assert _network_changes(controller) == before  # nothing new for any node to wire
    servers.delete(server_id)
    servers.wait_deleted(server_id)
