"""Networks: tenant networks on a VXLAN overlay (a VNI from the configured range) and
provider networks (flat or vlan on a named physical network) that only admins make."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from controller import validation
from controller.db.database import locked
from controller.db.paging import paginate
from controller.db.queries import utcnow
from controller.network import access, revision
from controller.network.config import VLAN_OVERHEAD, VXLAN_OVERHEAD, NetworkSection
from controller.network.models import Network, Port, Subnet
from stratus_common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
)

FLAT, VLAN, VXLAN = "flat", "vlan", "vxlan"
TYPES = (FLAT, VLAN, VXLAN)
_PHYSNET = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    description: str = ""
    project_id: str = ""
    network_type: str = ""  # "" = tenant (vxlan)
    physical_network: str = ""
    segmentation_id: int = 0
    mtu: int = 0
    shared: bool = False
    external: bool = False
    admin_state_up: bool = True


def computed_mtu(settings: NetworkSection, network_type: str) -> int:
    overhead = VXLAN_OVERHEAD if network_type == VXLAN else VLAN_OVERHEAD
    return settings.physical_mtu - overhead


def _admin_only(caller, spec: NetworkSpec) -> None:
    if caller.is_admin:
        return
    for field, asked in (
        ("network.network_type", spec.network_type),
        ("network.physical_network", spec.physical_network),
        ("network.segmentation_id", spec.segmentation_id),
        ("network.shared", spec.shared),
        ("network.external", spec.external),
    ):
        if asked:
            raise PermissionDenied(
                f"only admins may set {field}", reason="ADMIN_ONLY_FIELD", field=field
            )


def _segment(settings: NetworkSection, spec: NetworkSpec) -> tuple[str, str, int]:
    """(type, physical network, segmentation id), checked; a VNI is chosen later."""
    kind = spec.network_type or VXLAN
    if kind not in TYPES:
        raise InvalidArgument("network.network_type", "must be flat, vlan or vxlan")
    if kind == VXLAN:
        if spec.physical_network:
            raise InvalidArgument("network.physical_network", "does not apply to vxlan")
        if spec.segmentation_id and not 1 <= spec.segmentation_id <= 2**24 - 1:
            raise InvalidArgument("network.segmentation_id", "a VNI is 1-16777215")
        return kind, "", spec.segmentation_id
    if not _PHYSNET.fullmatch(spec.physical_network):
        raise InvalidArgument(
            "network.physical_network", "is required: 1-64 letters, digits, '_', '.' or '-'"
        )
    if kind == FLAT and spec.segmentation_id:
        raise InvalidArgument("network.segmentation_id", "does not apply to flat")
    if kind == VLAN and not 1 <= spec.segmentation_id <= 4094:
        raise InvalidArgument("network.segmentation_id", "a VLAN id is 1-4094")
    return kind, spec.physical_network, spec.segmentation_id


def _free_vni(settings: NetworkSection) -> int:
    first, last = settings.vni_range()
    taken = (
        Network.select(Network.segmentation_id)
        .where(
            Network.network_type == VXLAN,
            Network.segmentation_id >= first,
            Network.segmentation_id <= last,
        )
        .order_by(Network.segmentation_id)
    )
    candidate = first
    for (vni,) in taken.tuples():
        if vni != candidate:
            break
        candidate += 1
    if candidate > last:
        raise ResourceExhausted(
            "no VXLAN network id is free in [network] vni_ranges", reason="VNI_EXHAUSTED"
        )
    return candidate


def create(db, settings: NetworkSection, quotas, caller, spec: NetworkSpec) -> Network:
    validation.name("network.name", spec.name)
    _admin_only(caller, spec)
    project_id = access.project_for_create(caller, spec.project_id, "network.project_id")
    kind, physnet, segment = _segment(settings, spec)
    mtu = computed_mtu(settings, kind)
    if spec.mtu and not 68 <= spec.mtu <= mtu:
        raise InvalidArgument("network.mtu", f"must be 68-{mtu} on this network type")
    with db.write_transaction():
        quotas.take(project_id, "networks")
        revision.bump()  # taken first here: it also queues concurrent VNI choices
        if kind == VXLAN and not segment:
            segment = _free_vni(settings)
        elif (
            Network.select()
            .where(
                Network.network_type == kind,
                Network.physical_network == physnet,
                Network.segmentation_id == segment,
            )
            .exists()
        ):
            raise AlreadyExists(
                f"that {kind} segment is in use by another network",
                reason="SEGMENT_IN_USE",
                physical_network=physnet,
                segmentation_id=segment,
            )
        now = utcnow()
        return Network.create(
            id=str(uuid.uuid4()),
            project_id=project_id,
            name=spec.name,
            description=validation.text("network.description", spec.description),
            network_type=kind,
            physical_network=physnet,
            segmentation_id=segment,
            mtu=spec.mtu or mtu,
            shared=spec.shared,
            external=spec.external,
            admin_state_up=spec.admin_state_up,
            created_at=now,
            updated_at=now,
        )


def subnet_ids(network_ids: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {n: [] for n in network_ids}
    if network_ids:
        for sid, nid in (
            Subnet.select(Subnet.id, Subnet.network_id)
            .where(Subnet.network_id.in_(network_ids))
            .order_by(Subnet.created_at, Subnet.id)
            .tuples()
        ):
            found[nid].append(sid)
    return found


def list_(
    caller, page, *, name="", project_id="", shared=False, external=False, all_projects=False
):
    if all_projects and caller.is_admin:
        query = Network.select()
    elif caller.is_admin and project_id:
        query = Network.select().where(Network.project_id == project_id)
    else:
        query = access.visible_networks(caller)
        if project_id:
            query = query.where(Network.project_id == project_id)
    if name:
        query = query.where(Network.name == name)
    if shared:
        query = query.where(Network.shared)
    if external:
        query = query.where(Network.external)
    return paginate(query, page, [Network.created_at, Network.id])


UPDATABLE = {"name", "description", "admin_state_up", "mtu"}
ADMIN_UPDATABLE = {"shared", "external"}


def update(db, settings: NetworkSection, caller, network_id: str, changes: dict) -> Network:
    if "name" in changes:
        validation.name("network.name", changes["name"])
    if "description" in changes:
        validation.text("network.description", changes["description"])
    if set(changes) & ADMIN_UPDATABLE and not caller.is_admin:
        field = sorted(set(changes) & ADMIN_UPDATABLE)[0]
        raise PermissionDenied(
            f"only admins may set network.{field}", reason="ADMIN_ONLY_FIELD", field=field
        )
    with db.write_transaction():
        row = access.owned_network(caller, network_id)
        locked(Network.select(Network.id).where(Network.id == row.id))
        if "mtu" in changes:
            limit = computed_mtu(settings, row.network_type)
            if not 68 <= changes["mtu"] <= limit:
                raise InvalidArgument("network.mtu", f"must be 68-{limit} on this network type")
        if changes.get("shared") is False and row.shared:
            others = Port.select().where(
                Port.network_id == row.id, Port.project_id != row.project_id
            )
            if others.exists():
                raise FailedPrecondition(
                    "other projects have ports on this network", reason="NETWORK_IN_USE"
                )
        Network.update(updated_at=utcnow(), **changes).where(Network.id == row.id).execute()
        revision.bump()
        return Network.get_by_id(row.id)


def delete(db, caller, network_id: str) -> None:
    """Refused while a port is on it (nodes serve DHCP themselves: no service ports); its
    subnets go with it."""
    with db.write_transaction():
        row = access.owned_network(caller, network_id)
        locked(Network.select(Network.id).where(Network.id == row.id))
        if Port.select().where(Port.network_id == row.id).exists():
            raise FailedPrecondition(
                f"network {row.id} has ports in use; delete them first",
                reason="NETWORK_IN_USE",
                network_id=row.id,
            )
        Subnet.delete().where(Subnet.network_id == row.id).execute()
        Network.delete().where(Network.id == row.id).execute()
        revision.bump()
