"""The network area as other areas use it (the compute API and conductor): the only way they
touch networks. Built by controller/network/service.py and set on the app as
`app.network_port`.

A server's interfaces: `resolve` checks what a CreateServer asks for before the server is
recorded (so bad input changes nothing), `allocate` makes its ports once it is (addresses
come from IPAM at once, so the server shows them from then on), `bind` ties them to the host
the scheduler chose in the claim's transaction (the spawn carries them), and `release` frees
them when the server is deleted or its build fails for good: ports made for it are deleted
(their addresses go back to the pools), ports the user brought are unplugged and kept.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass

from controller.db.queries import utcnow
from controller.network import access, ipam, node_state, ports, revision
from controller.network.models import IpAllocation, Network, NetworkNode, Port, Subnet
from stratus_common.errors import FailedPrecondition, InvalidArgument

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NicRequest:
    network_id: str = ""
    port_id: str = ""
    fixed_ip: str = ""


def _plugged_into(server_ids: list[str]):
    """The ports of these servers: those the compute service plugged in. A project may label
    a port of its own with any device_id (as in Neutron), and that makes it no server's."""
    return Port.device_id.in_(server_ids) & (Port.device_owner == ports.COMPUTE_OWNER)


class NetworkPort:
    def __init__(self, db, settings, quotas):
        self.db = db
        self.settings = settings
        self.quotas = quotas
        # Called after a change committed that nodes may have to wire (wakes this replica's
        # node sessions; the others see the counter move within their poll interval).
        self.listeners: list[Callable[[], None]] = []

    def changed(self) -> None:
        for listener in self.listeners:
            listener()

    # -- servers ---------------------------------------------------------------------

    def usable_networks(self, caller) -> list[Network]:
        """The networks a server of the caller's project may get without asking: its own and
        shared ones (an admin's too: not every project's), up, with a subnet, not external
        unless shared. At most two: more than one means the user must choose."""
        with_subnets = Subnet.select(Subnet.network_id)
        query = Network.select().where(
            (Network.project_id == caller.project_id) | Network.shared,
            Network.admin_state_up,
            Network.id.in_(with_subnets),
            (~Network.external) | Network.shared,
        )
        return list(query.order_by(Network.created_at, Network.id).limit(2))

    def resolve(
        self, caller, nics: list[NicRequest], no_network: bool, retry_of: str = ""
    ) -> list[NicRequest]:
        """The interfaces a new server gets, checked (runs in a worker thread). `retry_of`:
        the server a retried create (same request id) made, whose ports are not in use by
        another."""
        if no_network:
            if nics:
                raise InvalidArgument("server.no_network", "contradicts server.networks")
            return []
        if not nics:
            usable = self.usable_networks(caller)
            if len(usable) > 1:
                raise FailedPrecondition(
                    "several networks are available: choose one (--nic net-id=...)",
                    reason="NETWORK_AMBIGUOUS",
                )
            return [NicRequest(network_id=usable[0].id)] if usable else []
        checked = [self._check(caller, n, nic, retry_of) for n, nic in enumerate(nics)]
        new_ports = sum(1 for nic in checked if not nic.port_id)
        if new_ports:
            self.quotas.check(caller.project_id, "ports", new_ports)
        return checked

    def _check(self, caller, n: int, nic: NicRequest, retry_of: str) -> NicRequest:
        field = f"server.networks[{n}]"
        if nic.port_id:
            if nic.network_id or nic.fixed_ip:
                raise InvalidArgument(field, "a port_id comes without network_id or fixed_ip")
            port = access.port(caller, nic.port_id)
            if port.device_id and port.device_id != retry_of:
                raise FailedPrecondition(
                    f"port {port.id} is in use by {port.device_id}", reason="PORT_IN_USE"
                )
            return nic
        if not nic.network_id:
            raise InvalidArgument(field, "give a network_id or a port_id")
        net = access.network(caller, nic.network_id)
        subnets = list(Subnet.select().where(Subnet.network_id == net.id))
        if not subnets:
            raise FailedPrecondition(
                f"network {net.id} has no subnet to take an address from",
                reason="NETWORK_HAS_NO_SUBNET",
            )
        if nic.fixed_ip:
            where = f"{field}.fixed_ip"
            ip = ipaddress.ip_address(ipam.addresses.address(where, nic.fixed_ip))
            subnet = next((s for s in subnets if ip in ipaddress.ip_network(s.cidr)), None)
            if subnet is None:
                raise InvalidArgument(where, "is outside every subnet of the network")
            ipam.check_requested(subnet, str(ip), where, ipam.taken(subnet.id))
        else:
            v4 = [s for s in subnets if s.ip_version == 4] or subnets
            if all(ipam.first_free(s.allocation_pools, ipam.taken(s.id)) is None for s in v4):
                raise ipam.exhausted(v4[-1])
        return nic

    def allocate(self, caller, server_id: str, nics: list[NicRequest]) -> dict:
        """The server's ports, made (or, for ports it was given, plugged) in one
        transaction; returns its addresses as the instance table keeps them."""
        with self.db.write_transaction():
            for index, nic in enumerate(nics):
                if nic.port_id:
                    self._plug(caller, server_id, index, nic.port_id)
                    continue
                wanted = [ports.FixedIpRequest(ip_address=nic.fixed_ip)] if nic.fixed_ip else None
                ports.create_locked(
                    self.settings,
                    self.quotas,
                    caller,
                    ports.PortSpec(
                        network_id=nic.network_id,
                        fixed_ips=wanted,
                        device_id=server_id,
                        device_owner=ports.COMPUTE_OWNER,
                        device_index=index,
                        delete_with_device=True,
                    ),
                )
            revision.bump()
            return self.addresses([server_id])[server_id]

    def _plug(self, caller, server_id: str, index: int, port_id: str) -> None:
        port = access.port(caller, port_id)
        plugged = (
            Port.update(
                device_id=server_id,
                device_owner=ports.COMPUTE_OWNER,
                device_index=index,
                updated_at=utcnow(),
            )
            .where(Port.id == port.id, Port.device_id == "")
            .execute()
        )
        if not plugged:
            raise FailedPrecondition(f"port {port.id} is in use", reason="PORT_IN_USE")

    def addresses(self, server_ids: list[str]) -> dict[str, dict]:
        """server id -> {network name: [{"address", "version", "mac"}, ...]}."""
        found: dict[str, dict] = {s: {} for s in server_ids}
        rows = list(
            Port.select(Port, Network.name.alias("network_name"))
            .join(Network, on=(Port.network_id == Network.id))
            .where(_plugged_into(server_ids))
            .order_by(Port.device_index, Port.id)
            .objects()
        )
        ips = ports.fixed_ips([p.id for p in rows])
        for port in rows:
            entries = found[port.device_id].setdefault(port.network_name, [])
            for _, ip in ips[port.id]:
                version = ipaddress.ip_address(ip).version
                entries.append({"address": ip, "version": version, "mac": port.mac_address})
        return found

    def servers_with_ports(self, server_ids: list[str]) -> set[str]:
        if not server_ids:
            return set()
        query = Port.select(Port.device_id).where(_plugged_into(server_ids)).distinct()
        return {device_id for (device_id,) in query.tuples()}

    def bind(self, placed: list[tuple[str, str, str]]) -> dict[str, list[node_state.PortWiring]]:
        """(server id, node id, host) each, inside the caller's transaction: the servers' ports
        are bound to their hosts (status BUILD until the node wires them). A port already
        bound to that host is left as it is: its node wires it already, so the status it
        reported stays true and no node has anything new to wire (a rebuild, a resize on one
        host, a step of a resize that both the move and the spawn bind). Returns each
        server's ports in interface order."""
        bound: dict[str, list[node_state.PortWiring]] = {s: [] for s, _, _ in placed}
        rows = list(
            Port.select()
            .where(_plugged_into(sorted(bound)))
            .order_by(Port.device_id, Port.device_index, Port.id)
        )
        if not rows:
            return bound
        where = {server_id: (node_id, host) for server_id, node_id, host in placed}
        moving: dict[tuple[str, str], list[str]] = {}
        for row in rows:
            target = where[row.device_id]
            if (row.binding_node_id, row.binding_host) != target:
                moving.setdefault(target, []).append(row.id)
                row.binding_node_id, row.binding_host = target
                row.status = ports.BUILD
        now = utcnow()
        for (node_id, host), port_ids in moving.items():
            Port.update(
                binding_host=host, binding_node_id=node_id, status=ports.BUILD, updated_at=now
            ).where(Port.id.in_(port_ids), _plugged_into(sorted(bound))).execute()
        if moving:
            revision.bump()
        for wiring in node_state.wiring(rows):
            bound[wiring.port.device_id].append(wiring)
        return bound

    def release(self, server_ids: list[str]) -> None:
        """Inside the caller's transaction (after the server's own counter): ports made for
        the servers are deleted, the others unplugged."""
        rows = list(Port.select(Port.id, Port.delete_with_device).where(_plugged_into(server_ids)))
        if not rows:
            return
        ports.delete_rows([r.id for r in rows if r.delete_with_device])
        kept = [r.id for r in rows if not r.delete_with_device]
        if kept:
            Port.update(
                device_id="",
                device_owner="",
                binding_host="",
                binding_node_id=None,
                status=ports.DOWN,
                updated_at=utcnow(),
            ).where(Port.id.in_(kept)).execute()
        revision.bump()

    # -- nodes -----------------------------------------------------------------------

    def node_hello(self, node_id: str, tunnel_ip: str, physical_networks: list[str]) -> None:
        """What a node said of its network side; peers' tunnel addresses follow it."""
        if tunnel_ip:
            ipam.addresses.address("hello.tunnel_ip", tunnel_ip)
        with self.db.write_transaction():
            row = NetworkNode.get_or_none(NetworkNode.node_id == node_id)
            values = {
                "tunnel_ip": tunnel_ip,
                "physical_networks": sorted(set(physical_networks)),
                "updated_at": utcnow(),
            }
            if row is None:
                NetworkNode.create(node_id=node_id, **values)
            else:
                NetworkNode.update(**values).where(NetworkNode.node_id == node_id).execute()
            if row is None or row.tunnel_ip != tunnel_ip:
                revision.bump()

    def port_status(self, node_id: str, statuses: list[tuple[str, str]]) -> int:
        """A node's report: only ports bound to it change. Returns how many did."""
        changed = 0
        with self.db.write_transaction():
            for port_id, status in statuses:
                changed += (
                    Port.update(status=status, updated_at=utcnow())
                    .where(
                        Port.id == port_id, Port.binding_node_id == node_id, Port.status != status
                    )
                    .execute()
                )
        return changed

    def node_state(self, node_id: str) -> node_state.NodeState:
        return node_state.compute(node_id)

    def revision(self) -> int:
        return revision.current()

    def taken_addresses(self, subnet_id: str) -> list[str]:
        """For operators' tools and tests: every address allocated on a subnet."""
        return [
            ip
            for (ip,) in IpAllocation.select(IpAllocation.ip_address)
            .where(IpAllocation.subnet_id == subnet_id)
            .tuples()
        ]
