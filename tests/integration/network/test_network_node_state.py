"""What nodes are told over the real node stream (mutual TLS, the controller's own CA): the
whole NetworkState after the Welcome, then again when their wiring changes: a port bound to
them (before its spawn), a peer on the same VXLAN network, a security group rule. Two nodes
here are raw stream clients with enrolled certificates, so the test reads exactly what a node
receives; the port status they report shows in the API."""

import asyncio
import time

import grpc

from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.network.v1 import network_service_pb2 as npb
from stratus.node.v1 import node_service_pb2 as pb
from stratus.node.v1 import node_service_pb2_grpc as pb_grpc
from tests.integration.compute_node.node_support import (
    Servers,
    enroll,
    node_listener_address,
    upload_image,
)
from tests.support.cloud import unique

WAIT = 60  # seconds a message may take on a loaded machine


class RawNode:
    """A node that speaks the protocol by hand: hello, then whatever the test sends."""

    def __init__(self, controller, directory, tunnel_ip: str):
        self.host = unique("rawnode")
        self.zone = unique("az")
        self.tunnel_ip = tunnel_ip
        self.pki = enroll(controller, self.host, directory)
        self.address = node_listener_address(controller)
        self.states: list[pb.NetworkState] = []
        self.spawns: list[pb.Command] = []

    async def open(self):
        self.channel = grpc.aio.secure_channel(self.address, self.pki.channel_credentials())
        self.call = pb_grpc.NodeServiceStub(self.channel).Connect()
        resources = pb.HostResources(
            hypervisor_type="QEMU", vcpus=8, memory_mb=8192, disk_gb=100, disk_gb_free=100
        )
        await self.call.write(
            pb.ConnectRequest(
                hello=pb.Hello(
                    host_name=self.host,
                    agent_version="raw",
                    resources=resources,
                    availability_zone=self.zone,
                    tunnel_ip=self.tunnel_ip,
                    physical_networks=["physnet-raw"],
                )
            )
        )
        first = await asyncio.wait_for(self.call.read(), WAIT)
        assert first.WhichOneof("body") == "welcome"
        self.queue: asyncio.Queue = asyncio.Queue()
        self.reader = asyncio.ensure_future(self._read())
        return self

    async def _read(self) -> None:
        """Every message the controller sends: commands succeed at once (as on a node that
        boots and destroys in no time), states are queued for the test."""
        while (message := await self.call.read()) is not grpc.aio.EOF:
            kind = message.WhichOneof("body")
            if kind == "command":
                if message.command.WhichOneof("action") == "spawn":
                    self.spawns.append(message.command)
                await self.call.write(
                    pb.ConnectRequest(
                        command_result=pb.CommandResult(
                            command_id=message.command.command_id,
                            status=pb.COMMAND_STATUS_SUCCEEDED,
                            instance=pb.InstanceState(
                                instance_id=message.command.instance_id,
                                power_state=pb.POWER_STATE_RUNNING,
                                managed=True,
                            ),
                        )
                    )
                )
            elif kind == "network_state":
                self.states.append(message.network_state)
                await self.queue.put(message.network_state)

    async def next_state(self, wanted=lambda state: True) -> pb.NetworkState:
        """The next NetworkState that `wanted` accepts."""
        deadline = time.monotonic() + WAIT
        while True:
            state = await asyncio.wait_for(self.queue.get(), deadline - time.monotonic())
            if wanted(state):
                return state

    async def report(self, port_id: str, status) -> None:
        await self.call.write(
            pb.ConnectRequest(
                port_status=pb.PortStatusReport(
                    revision=self.states[-1].revision,
                    ports=[pb.PortStatusEntry(port_id=port_id, status=status)],
                )
            )
        )

    async def close(self):
        self.reader.cancel()
        self.call.cancel()
        await self.channel.close()


def _ports_of(state, network_id):
    return [p for p in state.ports if p.network_id == network_id]


def test_nodes_receive_their_network_state_and_its_changes(
    controller, cloud, networks, net, tmp_path
):
    servers = Servers(cloud)
    md = servers.tenant.metadata
    lan = networks.network(md, "lan")
    subnet = networks.subnet(md, lan.id, "10.41.0.0/24")
    flavor = servers.flavor()
    image_id = upload_image(cloud, b"\0" * 65536, "raw")

    async def scenario():
        a = await RawNode(controller, tmp_path / "a", "192.0.2.11").open()
        b = await RawNode(controller, tmp_path / "b", "192.0.2.12").open()
        try:
            assert (await a.next_state()).ports == []  # whole, right after the Welcome

            server_a = await asyncio.to_thread(
                servers.create,
                flavor,
                image_id,
                a.zone,
                networks=[cpb.ServerNetwork(network_id=lan.id)],
            )
            state = await a.next_state(lambda s: _ports_of(s, lan.id))
            (port,) = state.ports
            assert port.instance_id == server_a and port.port_security_enabled
            (wired,) = state.networks
            assert (wired.network_id, wired.network_type, wired.segmentation_id, wired.mtu) == (
                lan.id,
                pb.NETWORK_TYPE_VXLAN,
                lan.segmentation_id,
                1450,
            )
            assert list(wired.vxlan_peers) == []
            assert [(s.subnet_id, s.cidr, s.gateway_ip) for s in wired.subnets] == [
                (subnet.id, "10.41.0.0/24", "10.41.0.1")
            ]
            (group,) = state.security_groups
            assert list(port.security_group_ids) == [group.security_group_id]
            assert list(group.member_ips) == [port.fixed_ips[0].ip_address]
            assert {(r.direction, r.remote_group_id) for r in group.rules} == {
                (pb.RULE_DIRECTION_INGRESS, group.security_group_id),
                (pb.RULE_DIRECTION_EGRESS, ""),
            }

            # The spawn carries the same port.
            await asyncio.to_thread(servers.wait_status, server_a, cpb.SERVER_STATUS_ACTIVE)
            assert a.spawns and [p.port_id for p in a.spawns[0].spawn.ports] == [port.port_id]

            await a.report(port.port_id, pb.PORT_STATUS_ACTIVE)
            deadline = time.monotonic() + WAIT
            while (
                networks.stub.GetPort(npb.GetPortRequest(id=port.port_id), metadata=md).status
                != npb.PORT_STATUS_ACTIVE
            ):
                assert time.monotonic() < deadline, "the port never became ACTIVE"
                await asyncio.sleep(0.05)

            # A second node on the same network: each now names the other as its peer.
            server_b = await asyncio.to_thread(
                servers.create,
                flavor,
                image_id,
                b.zone,
                networks=[cpb.ServerNetwork(network_id=lan.id)],
            )
            b_state = await b.next_state(lambda s: _ports_of(s, lan.id))
            assert list(b_state.networks[0].vxlan_peers) == ["192.0.2.11"]
            assert b_state.ports[0].instance_id == server_b
            a_state = await a.next_state(
                lambda s: list(s.networks[0].vxlan_peers) == ["192.0.2.12"]
            )
            assert len(a_state.security_groups[0].member_ips) == 2

            # A rule change reaches both nodes.
            rule = await asyncio.to_thread(
                net.CreateSecurityGroupRule,
                npb.CreateSecurityGroupRuleRequest(
                    security_group_rule=npb.SecurityGroupRule(
                        security_group_id=group.security_group_id,
                        direction=npb.RULE_DIRECTION_INGRESS,
                        protocol="icmp",
                        remote_ip_prefix="0.0.0.0/0",
                    )
                ),
                metadata=md,
            )
            for node in (a, b):
                changed = await node.next_state(
                    lambda s: any(r.rule_id == rule.id for g in s.security_groups for r in g.rules)
                )
                (icmp,) = [r for r in changed.security_groups[0].rules if r.rule_id == rule.id]
                assert (icmp.protocol, icmp.port_range_min, icmp.port_range_max) == ("icmp", -1, -1)
                assert changed.revision > node.states[0].revision

            # Deleting the server takes its port off its node.
            await asyncio.to_thread(servers.delete, server_b)
            await b.next_state(lambda s: not s.ports)
        finally:
            await a.close()
            await b.close()

    asyncio.run(scenario())
