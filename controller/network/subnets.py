"""Subnets: a CIDR on a network with its gateway, pools, name servers and host routes.
Overlapping CIDRs are allowed on different networks (as in Neutron), never on one."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field

from controller import validation
from controller.db.database import locked
from controller.db.paging import paginate
from controller.db.queries import utcnow
from controller.network import access, addresses, revision
from controller.network.models import IpAllocation, Network, Subnet
from stratus_common.errors import FailedPrecondition, InvalidArgument


@dataclass(frozen=True)
class SubnetSpec:
    network_id: str
    cidr: str
    name: str = ""
    description: str = ""
    ip_version: int = 0
    gateway_ip: str | None = None  # None: the first usable address; "": none
    allocation_pools: list[tuple[str, str]] = field(default_factory=list)
    dns_nameservers: list[str] = field(default_factory=list)
    host_routes: list[tuple[str, str]] = field(default_factory=list)
    enable_dhcp: bool = True


def _name(value: str) -> str:
    return validation.name("subnet.name", value) if value else ""


def create(db, quotas, caller, spec: SubnetSpec) -> Subnet:
    _name(spec.name)
    validation.text("subnet.description", spec.description)
    plan = addresses.plan(
        spec.cidr,
        spec.ip_version,
        spec.gateway_ip,
        spec.allocation_pools,
        spec.dns_nameservers,
        spec.host_routes,
    )
    with db.write_transaction():
        net = access.owned_network(caller, spec.network_id)
        quotas.take(net.project_id, "subnets")
        locked(Network.select(Network.id).where(Network.id == net.id))
        new = ipaddress.ip_network(plan.cidr)
        for other in Subnet.select(Subnet.id, Subnet.cidr).where(Subnet.network_id == net.id):
            if new.overlaps(ipaddress.ip_network(other.cidr)):
                raise InvalidArgument(
                    "subnet.cidr",
                    f"overlaps subnet {other.id} ({other.cidr}) of the same network",
                    reason="SUBNET_OVERLAPS",
                )
        now = utcnow()
        row = Subnet.create(
            id=str(uuid.uuid4()),
            network_id=net.id,
            project_id=net.project_id,
            name=spec.name,
            description=spec.description,
            ip_version=plan.ip_version,
            cidr=plan.cidr,
            gateway_ip=plan.gateway_ip,
            allocation_pools=plan.pools,
            dns_nameservers=plan.dns_nameservers,
            host_routes=plan.host_routes,
            enable_dhcp=spec.enable_dhcp,
            created_at=now,
            updated_at=now,
        )
        revision.bump()
        return row


def list_(caller, page, *, network_id="", name="", ip_version=0, cidr="", all_projects=False):
    query = (
        Subnet.select() if (all_projects and caller.is_admin) else access.visible_subnets(caller)
    )
    if network_id:
        query = query.where(Subnet.network_id == network_id)
    if name:
        query = query.where(Subnet.name == name)
    if ip_version:
        query = query.where(Subnet.ip_version == ip_version)
    if cidr:
        query = query.where(Subnet.cidr == cidr)
    return paginate(query, page, [Subnet.created_at, Subnet.id])


UPDATABLE = {"name", "description", "gateway_ip", "dns_nameservers", "host_routes", "enable_dhcp"}


def update(db, caller, subnet_id: str, changes: dict) -> Subnet:
    if "name" in changes:
        _name(changes["name"])
    if "description" in changes:
        validation.text("subnet.description", changes["description"])
    with db.write_transaction():
        row = access.subnet(caller, subnet_id)
        access.owned_network(caller, row.network_id)
        (row,) = locked(Subnet.select().where(Subnet.id == row.id))
        values: dict = {k: v for k, v in changes.items() if k in ("name", "description")}
        if "enable_dhcp" in changes:
            values["enable_dhcp"] = changes["enable_dhcp"]
        if "dns_nameservers" in changes:
            values["dns_nameservers"] = addresses.nameservers(changes["dns_nameservers"])
        if "host_routes" in changes:
            values["host_routes"] = addresses.routes(changes["host_routes"], row.ip_version)
        if "gateway_ip" in changes:
            values["gateway_ip"] = _new_gateway(row, changes["gateway_ip"])
        Subnet.update(updated_at=utcnow(), **values).where(Subnet.id == row.id).execute()
        revision.bump()
        return Subnet.get_by_id(row.id)


def _new_gateway(row: Subnet, value: str) -> str | None:
    if not value:
        return None
    gateway = addresses.address("subnet.gateway_ip", value, row.ip_version)
    net = ipaddress.ip_network(row.cidr)
    low, high = addresses.usable_range(net)
    if gateway not in net or not low <= int(gateway) <= high:
        raise InvalidArgument("subnet.gateway_ip", "is outside the subnet's usable addresses")
    if addresses.in_pools(int(gateway), row.allocation_pools):
        raise InvalidArgument("subnet.gateway_ip", "lies inside an allocation pool")
    if (
        IpAllocation.select()
        .where(IpAllocation.subnet_id == row.id, IpAllocation.ip_address == str(gateway))
        .exists()
    ):
        raise FailedPrecondition("a port holds that address", reason="IP_ADDRESS_IN_USE")
    return str(gateway)


def delete(db, caller, subnet_id: str) -> None:
    with db.write_transaction():
        row = access.subnet(caller, subnet_id)
        access.owned_network(caller, row.network_id)
        locked(Subnet.select(Subnet.id).where(Subnet.id == row.id))
        if IpAllocation.select().where(IpAllocation.subnet_id == row.id).exists():
            raise FailedPrecondition(
                f"subnet {row.id} has ports with addresses on it; delete them first",
                reason="SUBNET_IN_USE",
                subnet_id=row.id,
            )
        Subnet.delete().where(Subnet.id == row.id).execute()
        revision.bump()
