"""What placement needs of the servers waiting for a host: their rows as RequestSpecs."""

from __future__ import annotations

from controller.compute.records import states
from controller.compute.records.allocations import group_members_per_node
from controller.compute.records.models import Instance, ServerGroup
from controller.compute.records.statements import OVER_IDS
from controller.compute.scheduler.host_state import GroupSpec, ImageProps, RequestSpec


class Gone(Exception):
    """The server is no longer waiting to be placed (deleted, or placed already)."""


def waiting_rows(instance_ids: list[str]) -> dict[str, tuple]:
    """What placement reads of those of the servers still waiting for a host, in one
    statement: instance id -> its row, to pass to spec()."""
    return {
        row[0]: row[1:]
        for row in OVER_IDS.execute("specs", instance_ids, states.SCHEDULING).fetchall()
    }


def in_group(row: tuple) -> bool:
    return bool(row[-1])


def request_spec(instance_id: str, ignore_hosts=()) -> RequestSpec:
    """A server still waiting for a host, read anew (group membership changes between
    attempts); raises Gone when it no longer waits."""
    row = waiting_rows([instance_id]).get(instance_id)
    if row is None:
        raise Gone(instance_id)
    return spec(instance_id, row, ignore_hosts)


def resize_spec(instance_id: str, ignore_hosts=()) -> RequestSpec:
    """A server being resized, with the new flavor its row now holds; raises Gone when it no
    longer waits for a host (deleted meanwhile)."""
    inst = Instance.get_or_none(
        Instance.id == instance_id,
        Instance.deleted_at.is_null(),
        Instance.task_state == states.RESIZE_PREP,
    )
    if inst is None:
        raise Gone(instance_id)
    row = (
        inst.project_id,
        inst.vcpus,
        inst.ram_mb,
        inst.disk_gb,
        inst.ephemeral_gb,
        inst.swap_mb,
        inst.availability_zone,
        Instance.image_properties.db_value(inst.image_properties),
        inst.server_group_id,
    )
    return spec(instance_id, row, ignore_hosts)


def spec(instance_id: str, row: tuple, ignore_hosts=()) -> RequestSpec:
    project_id, vcpus, ram_mb, disk_gb, ephemeral_gb, swap_mb, zone, image, group_id = row
    props = Instance.image_properties.python_value(image) or {}
    group = None
    if group_id:
        g = ServerGroup.get_or_none(ServerGroup.id == group_id)
        if g is not None:
            group = GroupSpec(g.id, g.policy, group_members_per_node(g.id), g.max_server_per_host)
    root = disk_gb or int(props.get("size_gb", 0))
    return RequestSpec.for_flavor(
        instance_id=instance_id,
        project_id=project_id,
        vcpus=vcpus,
        ram_mb=ram_mb,
        root_gb=root,
        ephemeral_gb=ephemeral_gb,
        swap_mb=swap_mb,
        availability_zone=zone,
        image=ImageProps(
            architecture=props.get("architecture", ""),
            hypervisor_type=props.get("hypervisor_type", ""),
            min_ram_mb=int(props.get("min_ram_mb", 0)),
            min_disk_gb=int(props.get("min_disk_gb", 0)),
        ),
        group=group,
        ignore_hosts=frozenset(ignore_hosts),
    )
