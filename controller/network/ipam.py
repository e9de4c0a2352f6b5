"""IP address management: which address a port gets on a subnet.

Allocation runs in the port's write transaction with the subnet's row locked (FOR UPDATE on
PostgreSQL and MySQL; SQLite's writer lock already serialises every writer), reads the
subnet's taken addresses and takes the first free one of its pools. The allocation table's
primary key (subnet, address) is the last word: no two transactions can commit one address,
whatever runs above it, so a controller replica with a bug still cannot double-allocate.
A deleted port's rows go with it and their addresses are free for the next port.

Reading every taken address costs as much as the subnet is full, so a port that just wants
an address first tries the one after the last this process gave on that subnet (a hint, no
more: it is checked in the same locked transaction, and the full search runs when it fails).
"""

from __future__ import annotations

import ipaddress

from controller.db import statements
from controller.db.database import for_update, locked
from controller.db.prepared import Param, Prepared
from controller.network import addresses
from controller.network.models import IpAllocation, Subnet
from stratus_common.errors import AlreadyExists, InvalidArgument, ResourceExhausted

_LOCK_ONE = Prepared(lambda: for_update(Subnet.select().where(Subnet.id == Param("id"))))
_HELD = Prepared(
    lambda: IpAllocation.select(IpAllocation.port_id).where(
        IpAllocation.subnet_id == Param("subnet_id"), IpAllocation.ip_address == Param("ip")
    )
)


def lock_subnets(subnet_ids: list[str]) -> dict[str, Subnet]:
    """The subnets' rows, locked in id order (one order everywhere: no two allocations wait on
    each other)."""
    if not subnet_ids:
        return {}
    if len(set(subnet_ids)) == 1:  # most networks have one: the prepared statement
        rows = _LOCK_ONE.rows(id=subnet_ids[0])
        return {row.id: row for row in rows}
    rows = locked(Subnet.select().where(Subnet.id.in_(sorted(set(subnet_ids)))).order_by(Subnet.id))
    return {row.id: row for row in rows}


def taken(subnet_id: str) -> set[int]:
    return {
        int(ipaddress.ip_address(ip))
        for (ip,) in IpAllocation.select(IpAllocation.ip_address)
        .where(IpAllocation.subnet_id == subnet_id)
        .tuples()
    }


def first_free(pools: list[list[str]], used: set[int]) -> int | None:
    """The lowest address of the pools not in `used` (each step past a used one: bounded by
    the number taken)."""
    for start, end in pools:
        candidate, last = int(ipaddress.ip_address(start)), int(ipaddress.ip_address(end))
        while candidate <= last and candidate in used:
            candidate += 1
        if candidate <= last:
            return candidate
    return None


def exhausted(subnet: Subnet) -> ResourceExhausted:
    return ResourceExhausted(
        f"no more IP addresses are available on subnet {subnet.id}",
        reason="IP_ADDRESSES_EXHAUSTED",
        subnet_id=subnet.id,
    )


def pick(subnet: Subnet, used: set[int]) -> str:
    """The next free address of a locked subnet (`used`: its taken ones, which the caller
    keeps up to date when it allocates several)."""
    found = first_free(subnet.allocation_pools, used)
    if found is None:
        raise exhausted(subnet)
    used.add(found)
    return str(ipaddress.ip_address(found))


# subnet id -> the last address this process allocated there.
_hints: dict[str, int] = {}


def _held(subnet_id: str, value: int) -> bool:
    ip = str(ipaddress.ip_address(value))
    return _HELD.execute(subnet_id=subnet_id, ip=ip).fetchone() is not None


def pick_next(subnet: Subnet) -> str:
    """An address for a port that asks for none: the one after the hint when it is free,
    else the first free one of the pools."""
    hint = _hints.get(subnet.id)
    if hint is not None:
        candidate = hint + 1
        if addresses.in_pools(candidate, subnet.allocation_pools) and not _held(
            subnet.id, candidate
        ):
            _hints[subnet.id] = candidate
            return str(ipaddress.ip_address(candidate))
    found = pick(subnet, taken(subnet.id))
    _hints[subnet.id] = int(ipaddress.ip_address(found))
    return found


def check_requested(subnet: Subnet, ip: str, field: str, used: set[int]) -> str:
    """An address asked for: inside the subnet, not its network, broadcast or gateway
    address, and not taken. It may lie outside the pools, as in Neutron."""
    addr = addresses.address(field, ip, subnet.ip_version)
    net = ipaddress.ip_network(subnet.cidr)
    if addr not in net:
        raise InvalidArgument(field, f"is outside subnet {subnet.id} ({subnet.cidr})")
    low, high = addresses.usable_range(net)
    if not low <= int(addr) <= high:
        raise InvalidArgument(field, "is the subnet's network or broadcast address")
    if subnet.gateway_ip and addr == ipaddress.ip_address(subnet.gateway_ip):
        raise InvalidArgument(field, "is the subnet's gateway address")
    if int(addr) in used:
        raise AlreadyExists(
            f"IP address {addr} is already in use on subnet {subnet.id}",
            reason="IP_ADDRESS_IN_USE",
            subnet_id=subnet.id,
            ip_address=str(addr),
        )
    used.add(int(addr))
    return str(addr)


def record(port_id: str, network_id: str, pairs: list[tuple[str, str]]) -> None:
    """(subnet id, address) rows for a port: one statement."""
    if pairs:
        statements.insert_rows(
            IpAllocation,
            [
                {"subnet_id": s, "ip_address": ip, "port_id": port_id, "network_id": network_id}
                for s, ip in pairs
            ],
        )
