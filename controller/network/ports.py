"""Ports: a MAC (unique on its network), fixed IPs from IPAM, the device using it, security
groups, port security and allowed address pairs, the host it is bound to, and its status as
the host's node reports it."""

from __future__ import annotations

import ipaddress
import re
import secrets
import uuid
from dataclasses import dataclass, field

from controller import validation
from controller.db import statements
from controller.db.database import locked
from controller.db.paging import paginate
from controller.db.prepared import Param, Prepared
from controller.db.queries import utcnow
from controller.network import access, addresses, ipam, revision, security_groups
from controller.network.models import IpAllocation, Network, Port, PortSecurityGroup, Subnet
from stratus_common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
)

_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
DOWN, BUILD, ACTIVE, ERROR = "DOWN", "BUILD", "ACTIVE", "ERROR"
COMPUTE_OWNER = "compute:nova"
COMPUTE_PREFIX = "compute:"
MAX_FIXED_IPS = 16


@dataclass(frozen=True)
class FixedIpRequest:
    subnet_id: str = ""
    ip_address: str = ""


@dataclass(frozen=True)
class PortSpec:
    network_id: str
    name: str = ""
    description: str = ""
    project_id: str = ""
    mac_address: str = ""
    fixed_ips: list[FixedIpRequest] | None = None  # None: one address picked by IPAM
    device_id: str = ""
    device_owner: str = ""
    device_index: int = 0
    delete_with_device: bool = False
    security_group_ids: list[str] = field(default_factory=list)
    port_security_enabled: bool = True
    allowed_address_pairs: list[tuple[str, str]] = field(default_factory=list)
    admin_state_up: bool = True


def mac(field_name: str, value: str) -> str:
    value = value.lower().replace("-", ":")
    if not _MAC.fullmatch(value):
        raise InvalidArgument(field_name, "is not a MAC address (aa:bb:cc:dd:ee:ff)")
    if int(value[:2], 16) & 1:
        raise InvalidArgument(field_name, "is a multicast address")
    if value == "00:00:00:00:00:00":
        raise InvalidArgument(field_name, "is the all-zero address")
    return value


# The hot path of every port create, rendered once (controller/db/statements.py: the rule).
_MAC_TAKEN = Prepared(
    lambda: (
        Port.select(Port.id)
        .where(Port.network_id == Param("network_id"), Port.mac_address == Param("mac"))
        .limit(1)
    )
)
_SUBNETS_OF = Prepared(
    lambda: (
        Subnet.select()
        .where(Subnet.network_id == Param("network_id"))
        .order_by(Subnet.created_at, Subnet.id)
    )
)
_FIXED_IPS_OF = Prepared(
    lambda: IpAllocation.select(IpAllocation.subnet_id, IpAllocation.ip_address).where(
        IpAllocation.port_id == Param("port_id")
    )
)
_GROUPS_OF = Prepared(
    lambda: PortSecurityGroup.select(PortSecurityGroup.security_group_id).where(
        PortSecurityGroup.port_id == Param("port_id")
    )
)


def _mac_taken(network_id: str, value: str) -> bool:
    return _MAC_TAKEN.execute(network_id=network_id, mac=value).fetchone() is not None


def _new_mac(base: str, network_id: str) -> str:
    for _ in range(16):
        candidate = f"{base}:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))
        if not _mac_taken(network_id, candidate):
            return candidate
    raise FailedPrecondition("no free MAC address was found; retry", reason="MAC_GENERATION_FAILED")


def address_pairs(pairs: list[tuple[str, str]], prefix: str) -> list[list[str]]:
    found = []
    for n, (ip, pair_mac) in enumerate(pairs):
        net = addresses.prefix(f"{prefix}[{n}].ip_address", ip)
        found.append(
            [
                str(net) if net.num_addresses > 1 else str(net.network_address),
                mac(f"{prefix}[{n}].mac_address", pair_mac) if pair_mac else "",
            ]
        )
    return found


def _subnets_of(network_id: str) -> list[Subnet]:
    return _SUBNETS_OF.rows(network_id=network_id)


def _allocate(
    net: Network, requests: list[FixedIpRequest] | None, field_name: str
) -> list[tuple[str, str]]:
    """(subnet id, address) for a new set of fixed IPs, with the subnets locked. None: one
    address of the first IPv4 subnet with room and one of each IPv6 subnet (Neutron's choice)."""
    subnets = _subnets_of(net.id)
    by_id = ipam.lock_subnets([s.id for s in subnets])
    used: dict[str, set[int]] = {}

    def taken(subnet_id: str) -> set[int]:
        if subnet_id not in used:
            used[subnet_id] = ipam.taken(subnet_id)
        return used[subnet_id]

    if requests is None:
        picked = []
        v4 = [s for s in subnets if s.ip_version == 4]
        for n, subnet in enumerate(v4):
            try:
                picked.append((subnet.id, ipam.pick_next(by_id[subnet.id])))
                break
            except ResourceExhausted:
                if n == len(v4) - 1:
                    raise
        picked += [(s.id, ipam.pick_next(by_id[s.id])) for s in subnets if s.ip_version == 6]
        return picked
    if len(requests) > MAX_FIXED_IPS:
        raise InvalidArgument(field_name, f"at most {MAX_FIXED_IPS} fixed IPs")
    picked = []
    for n, req in enumerate(requests):
        where = f"{field_name}[{n}]"
        if req.subnet_id:
            subnet = by_id.get(req.subnet_id)
            if subnet is None:
                raise InvalidArgument(f"{where}.subnet_id", "is not a subnet of the port's network")
        elif req.ip_address:
            ip = addresses.address(f"{where}.ip_address", req.ip_address)
            subnet = next((s for s in by_id.values() if ip in ipaddress.ip_network(s.cidr)), None)
            if subnet is None:
                raise InvalidArgument(
                    f"{where}.ip_address", "is outside every subnet of the port's network"
                )
        else:
            raise InvalidArgument(where, "give a subnet_id, an ip_address or both")
        if req.ip_address:
            ip_text = ipam.check_requested(
                subnet, req.ip_address, f"{where}.ip_address", taken(subnet.id)
            )
        else:
            ip_text = ipam.pick(subnet, taken(subnet.id))
        picked.append((subnet.id, ip_text))
    return picked


def _groups(
    quotas, caller, project_id: str, spec_groups: list[str], port_security: bool
) -> list[str]:
    if not port_security:
        if spec_groups:
            raise InvalidArgument(
                "port.security_group_ids", "a port without port security has no security groups"
            )
        return []
    if not spec_groups:
        return [security_groups.default_group(quotas, project_id)]
    for group_id in spec_groups:
        group = access.security_group(caller, group_id)
        if group.project_id != project_id:
            raise InvalidArgument("port.security_group_ids", "must be groups of the port's project")
    return list(dict.fromkeys(spec_groups))


def check_spec(spec: PortSpec) -> None:
    """What needs no database: names, MAC and address pair syntax."""
    if spec.name:
        validation.name("port.name", spec.name)
    validation.text("port.description", spec.description)
    if spec.mac_address:
        mac("port.mac_address", spec.mac_address)
    if not spec.port_security_enabled and spec.allowed_address_pairs:
        raise InvalidArgument(
            "port.allowed_address_pairs", "need port security (anti-spoofing) on the port"
        )
    address_pairs(spec.allowed_address_pairs, "port.allowed_address_pairs")


def create_locked(settings, quotas, caller, spec: PortSpec, net: Network | None = None) -> Port:
    """A port, in the caller's write transaction (which bumps the revision after)."""
    check_spec(spec)
    net = net or access.network(caller, spec.network_id)
    project_id = access.project_for_create(caller, spec.project_id, "port.project_id")
    if not caller.is_admin and net.project_id != project_id and not net.shared:
        raise access.missing("network", net.id)
    quotas.take(project_id, "ports")
    groups = _groups(
        quotas, caller, project_id, spec.security_group_ids, spec.port_security_enabled
    )
    if spec.mac_address:
        mac_address = mac("port.mac_address", spec.mac_address)
        if _mac_taken(net.id, mac_address):
            raise AlreadyExists(
                f"MAC address {mac_address} is already in use on network {net.id}",
                reason="MAC_ADDRESS_IN_USE",
                network_id=net.id,
                mac_address=mac_address,
            )
    else:
        mac_address = _new_mac(settings.base_mac, net.id)
    picked = _allocate(net, spec.fixed_ips, "port.fixed_ips")
    now = utcnow()
    values = dict(
        id=str(uuid.uuid4()),
        network_id=net.id,
        project_id=project_id,
        name=spec.name,
        description=spec.description,
        mac_address=mac_address,
        device_id=spec.device_id,
        device_owner=spec.device_owner,
        device_index=spec.device_index,
        delete_with_device=spec.delete_with_device,
        port_security_enabled=spec.port_security_enabled,
        allowed_address_pairs=address_pairs(
            spec.allowed_address_pairs, "port.allowed_address_pairs"
        ),
        binding_host="",
        binding_node_id=None,
        status=DOWN,
        admin_state_up=spec.admin_state_up,
        created_at=now,
        updated_at=now,
    )
    statements.insert(Port, values)
    port = Port(**values)
    ipam.record(port.id, net.id, picked)
    if groups:
        statements.insert_rows(
            PortSecurityGroup, [{"port_id": port.id, "security_group_id": g} for g in groups]
        )
    return port


def check_device(caller, changes: dict, plugged_by: str = "") -> None:
    """A server's ports (device_owner compute:*) are the compute service's: a project may
    label its ports with any other device, but neither claim a server's nor unplug one.
    `plugged_by` is the port's current device_owner."""
    if caller.is_admin:
        return
    claims = str(changes.get("device_owner", "")).startswith(COMPUTE_PREFIX)
    unplugs = plugged_by.startswith(COMPUTE_PREFIX) and bool(
        {"device_id", "device_owner"} & set(changes)
    )
    if claims or unplugs:
        raise PermissionDenied(
            "only the compute service plugs ports into servers and unplugs them",
            reason="PORT_DEVICE_OWNED_BY_COMPUTE",
        )


def create(db, settings, quotas, caller, spec: PortSpec) -> Port:
    """The API's create: the compute service's own ports are made by create_locked."""
    check_spec(spec)
    check_device(caller, {"device_owner": spec.device_owner})
    with db.write_transaction():
        port = create_locked(settings, quotas, caller, spec)
        revision.bump()
        return port


def fixed_ips(port_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    """port id -> [(subnet id, address), ...] in allocation order."""
    if len(port_ids) == 1:  # a create's or a get's answer: the prepared statement
        return {port_ids[0]: list(_FIXED_IPS_OF.execute(port_id=port_ids[0]).fetchall())}
    found: dict[str, list[tuple[str, str]]] = {p: [] for p in port_ids}
    if port_ids:
        for port_id, subnet_id, ip in (
            IpAllocation.select(
                IpAllocation.port_id, IpAllocation.subnet_id, IpAllocation.ip_address
            )
            .where(IpAllocation.port_id.in_(port_ids))
            .tuples()
        ):
            found[port_id].append((subnet_id, ip))
    return found


def group_ids(port_ids: list[str]) -> dict[str, list[str]]:
    if len(port_ids) == 1:
        return {port_ids[0]: [g for (g,) in _GROUPS_OF.execute(port_id=port_ids[0]).fetchall()]}
    found: dict[str, list[str]] = {p: [] for p in port_ids}
    if port_ids:
        for port_id, group_id in (
            PortSecurityGroup.select(PortSecurityGroup.port_id, PortSecurityGroup.security_group_id)
            .where(PortSecurityGroup.port_id.in_(port_ids))
            .tuples()
        ):
            found[port_id].append(group_id)
    return found


def list_(
    caller,
    page,
    *,
    network_id="",
    device_id="",
    device_owner="",
    name="",
    status="",
    mac_address="",
    fixed_ip="",
    binding_host="",
    all_projects=False,
):
    query = Port.select() if all_projects and caller.is_admin else access.own(Port, caller)
    for column, value in (
        (Port.network_id, network_id),
        (Port.device_id, device_id),
        (Port.device_owner, device_owner),
        (Port.name, name),
        (Port.status, status),
        (Port.mac_address, mac_address.lower()),
    ):
        if value:
            query = query.where(column == value)
    if binding_host and caller.is_admin:
        query = query.where(Port.binding_host == binding_host)
    if fixed_ip:
        holders = IpAllocation.select(IpAllocation.port_id).where(
            IpAllocation.ip_address == fixed_ip
        )
        query = query.where(Port.id.in_(holders))
    return paginate(query, page, [Port.created_at, Port.id])


UPDATABLE = {
    "name",
    "description",
    "admin_state_up",
    "fixed_ips",
    "security_group_ids",
    "port_security_enabled",
    "allowed_address_pairs",
    "device_id",
    "device_owner",
}


def update(db, quotas, caller, port_id: str, changes: dict) -> Port:
    if changes.get("name"):
        validation.name("port.name", changes["name"])
    if "description" in changes:
        validation.text("port.description", changes["description"])
    with db.write_transaction():
        row = access.port(caller, port_id)
        (row,) = locked(Port.select().where(Port.id == row.id))
        check_device(caller, changes, row.device_owner)
        values = {
            k: changes[k]
            for k in ("name", "description", "admin_state_up", "device_id", "device_owner")
            if k in changes
        }
        security = changes.get("port_security_enabled", row.port_security_enabled)
        pairs = changes.get("allowed_address_pairs")
        if pairs is not None:
            values["allowed_address_pairs"] = address_pairs(pairs, "port.allowed_address_pairs")
        if not security and (pairs if pairs is not None else row.allowed_address_pairs):
            raise InvalidArgument(
                "port.allowed_address_pairs", "need port security (anti-spoofing) on the port"
            )
        values["port_security_enabled"] = security
        if "security_group_ids" in changes or "port_security_enabled" in changes:
            wanted = changes.get("security_group_ids")
            if wanted is None:
                wanted = [] if not security else group_ids([row.id])[row.id]
            groups = (
                _groups(quotas, caller, row.project_id, wanted, security)
                if (wanted or security)
                else []
            )
            PortSecurityGroup.delete().where(PortSecurityGroup.port_id == row.id).execute()
            if groups:
                PortSecurityGroup.insert_many(
                    [{"port_id": row.id, "security_group_id": g} for g in groups]
                ).execute()
        if "fixed_ips" in changes:
            _replace_fixed_ips(row, changes["fixed_ips"])
        Port.update(updated_at=utcnow(), **values).where(Port.id == row.id).execute()
        revision.bump()
        return Port.get_by_id(row.id)


def _replace_fixed_ips(row: Port, requests: list[FixedIpRequest]) -> None:
    """The port's addresses become `requests`: the ones it keeps stay, the others are freed
    (in this transaction, so a failure frees nothing)."""
    current = fixed_ips([row.id])[row.id]
    keep = {
        (s, ip)
        for s, ip in current
        if any(r.ip_address == ip and r.subnet_id in ("", s) for r in requests)
    }
    IpAllocation.delete().where(IpAllocation.port_id == row.id).execute()
    rest = [
        r
        for r in requests
        if not any(r.ip_address == ip and r.subnet_id in ("", s) for s, ip in keep)
    ]
    net = Network.get_by_id(row.network_id)
    picked = _allocate(net, rest, "port.fixed_ips") if rest else []
    ipam.record(row.id, row.network_id, sorted(keep) + picked)


def delete(db, caller, port_id: str) -> None:
    with db.write_transaction():
        row = access.port(caller, port_id)
        if row.device_owner.startswith("compute:") and row.device_id:
            raise FailedPrecondition(
                f"port {row.id} is plugged into server {row.device_id}; delete the server first",
                reason="PORT_IN_USE",
                port_id=row.id,
            )
        delete_rows([row.id])
        revision.bump()


def delete_rows(port_ids: list[str]) -> None:
    """The ports, their addresses (back to their pools) and group memberships."""
    if port_ids:
        IpAllocation.delete().where(IpAllocation.port_id.in_(port_ids)).execute()
        PortSecurityGroup.delete().where(PortSecurityGroup.port_id.in_(port_ids)).execute()
        Port.delete().where(Port.id.in_(port_ids)).execute()
