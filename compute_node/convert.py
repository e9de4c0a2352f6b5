"""Driver dataclasses <-> stratus.node.v1 messages, for the agent."""

from __future__ import annotations

import time

from google.protobuf.timestamp_pb2 import Timestamp

from compute_node.drivers.base import (
    EventKind,
    GuestData,
    GuestKey,
    HostStats,
    InstanceInfo,
    LifecycleEvent,
    PowerState,
    RebootKind,
)
from stratus.node.v1 import node_service_pb2 as pb

POWER = {
    PowerState.NOSTATE: pb.POWER_STATE_NOSTATE,
    PowerState.RUNNING: pb.POWER_STATE_RUNNING,
    PowerState.PAUSED: pb.POWER_STATE_PAUSED,
    PowerState.SHUTDOWN: pb.POWER_STATE_SHUTDOWN,
    PowerState.SHUTOFF: pb.POWER_STATE_SHUTOFF,
    PowerState.CRASHED: pb.POWER_STATE_CRASHED,
    PowerState.SUSPENDED: pb.POWER_STATE_SUSPENDED,
}
EVENTS = {kind: getattr(pb, f"EVENT_KIND_{kind.value}") for kind in EventKind}

# power operation -> (driver method name, positional arguments)
OPERATIONS = {
    pb.POWER_OPERATION_STOP: ("stop", ()),
    pb.POWER_OPERATION_START: ("start", ()),
    pb.POWER_OPERATION_REBOOT_SOFT: ("reboot", (RebootKind.SOFT,)),
    pb.POWER_OPERATION_REBOOT_HARD: ("reboot", (RebootKind.HARD,)),
    pb.POWER_OPERATION_PAUSE: ("pause", ()),
    pb.POWER_OPERATION_UNPAUSE: ("unpause", ()),
    pb.POWER_OPERATION_SUSPEND: ("suspend", ()),
    pb.POWER_OPERATION_RESUME: ("resume", ()),
}


def timestamp(seconds: float | None = None) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int((time.time() if seconds is None else seconds) * 1e9))
    return stamp


def guest(msg: pb.GuestData) -> GuestData | None:
    """The spawn's guest data; None when the server boots without a config drive."""
    if not msg.config_drive:
        return None
    return GuestData(
        hostname=msg.hostname,
        project_id=msg.project_id,
        availability_zone=msg.availability_zone,
        user_data=msg.user_data,
        keys=tuple(GuestKey(name=k.name, type=k.type, public_key=k.public_key) for k in msg.keys),
    )


def resources(stats: HostStats) -> pb.HostResources:
    msg = pb.HostResources(
        hypervisor_type=stats.hypervisor_type,
        hypervisor_version=stats.hypervisor_version,
        domain_type=stats.domain_type,
        cpu_arch=stats.arch,
        cpu_model=stats.cpu_model,
        vcpus=stats.vcpus,
        vcpus_used=stats.vcpus_used,
        memory_mb=stats.memory_mb,
        memory_mb_used=stats.memory_mb_used,
        disk_gb=stats.disk_gb,
        disk_gb_free=stats.disk_gb_free,
        running_instances=stats.running_instances,
    )
    if stats.free_memory_mb is not None:
        msg.free_memory_mb = stats.free_memory_mb
    return msg


def instance_state(info: InstanceInfo) -> pb.InstanceState:
    return pb.InstanceState(
        instance_id=info.uuid,
        name=info.name,
        power_state=POWER[info.power_state],
        managed=info.managed,
        addresses=[
            pb.InstanceAddress(
                network=a.network, address=a.address, version=a.version, mac_address=a.mac
            )
            for a in info.addresses
        ],
    )


def inventory(infos) -> list[pb.InstanceState]:
    return [instance_state(i) for i in infos]


def event(item: LifecycleEvent) -> pb.ConnectRequest:
    return pb.ConnectRequest(
        instance_event=pb.InstanceEvent(
            instance_id=item.uuid,
            kind=EVENTS[item.kind],
            power_state=POWER[item.power_state],
            time=timestamp(item.timestamp or None),
        )
    )


def result(
    command_id: str,
    status: int,
    info: InstanceInfo | None = None,
    error_code: str = "",
    error_message: str = "",
) -> pb.CommandResult:
    msg = pb.CommandResult(
        command_id=command_id,
        status=status,
        error_code=error_code,
        error_message=error_message[:1000],
    )
    if info is not None:
        msg.instance.CopyFrom(instance_state(info))
    return msg
