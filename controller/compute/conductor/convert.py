"""Node protocol messages <-> the conductor's plain values (commands are commands.py's)."""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.compute.records import states
from stratus.node.v1 import node_service_pb2 as pb

# The node's power states as the instance table keeps them (Nova's names).
POWER_STATES = {
    pb.POWER_STATE_NOSTATE: states.NOSTATE,
    pb.POWER_STATE_RUNNING: states.RUNNING,
    pb.POWER_STATE_PAUSED: states.POWER_PAUSED,
    pb.POWER_STATE_SHUTDOWN: states.SHUTDOWN,
    pb.POWER_STATE_SHUTOFF: states.SHUTDOWN,
    pb.POWER_STATE_CRASHED: states.CRASHED,
    pb.POWER_STATE_SUSPENDED: states.POWER_SUSPENDED,
}

STATUS_NAMES = {
    pb.COMMAND_STATUS_SUCCEEDED: "succeeded",
    pb.COMMAND_STATUS_FAILED: "failed",
    pb.COMMAND_STATUS_REJECTED: "rejected",
    pb.COMMAND_STATUS_INTERRUPTED: "interrupted",
}


@dataclass(frozen=True)
class Resources:
    hypervisor_type: str
    hypervisor_version: str
    domain_type: str
    architecture: str
    cpu_model: str
    vcpus: int
    vcpus_used: int
    memory_mb: int
    memory_mb_used: int
    free_memory_mb: int | None
    disk_gb: int
    disk_gb_free: int
    running_instances: int


@dataclass(frozen=True)
class InstanceReport:
    instance_id: str
    name: str
    power_state: str  # instance-table name
    managed: bool
    # as the instance table keeps them: network -> [{"address", "version", "mac"}, ...]
    addresses: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    command_id: str
    status: str  # succeeded | failed | rejected | interrupted
    instance: InstanceReport | None
    error_code: str
    error_message: str
    console_output: str
    console_truncated: bool

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def as_json(self) -> dict:
        return {
            "status": self.status,
            "power_state": self.instance.power_state if self.instance else None,
            "console_truncated": self.console_truncated,
        }


def resources(msg: pb.HostResources) -> Resources:
    return Resources(
        hypervisor_type=msg.hypervisor_type.lower(),
        hypervisor_version=msg.hypervisor_version,
        domain_type=msg.domain_type,
        architecture=msg.cpu_arch,
        cpu_model=msg.cpu_model,
        vcpus=msg.vcpus,
        vcpus_used=msg.vcpus_used,
        memory_mb=msg.memory_mb,
        memory_mb_used=msg.memory_mb_used,
        free_memory_mb=msg.free_memory_mb if msg.HasField("free_memory_mb") else None,
        disk_gb=msg.disk_gb,
        disk_gb_free=msg.disk_gb_free,
        running_instances=msg.running_instances,
    )


def instance_report(msg: pb.InstanceState) -> InstanceReport:
    addresses: dict[str, list] = {}
    for a in msg.addresses:
        addresses.setdefault(a.network, []).append(
            {"address": a.address, "version": a.version or 4, "mac": a.mac_address}
        )
    return InstanceReport(
        instance_id=msg.instance_id,
        name=msg.name,
        power_state=POWER_STATES.get(msg.power_state, states.NOSTATE),
        managed=msg.managed,
        addresses=addresses,
    )


def result(msg: pb.CommandResult) -> Result:
    return Result(
        command_id=msg.command_id,
        status=STATUS_NAMES.get(msg.status, "failed"),
        instance=instance_report(msg.instance) if msg.HasField("instance") else None,
        error_code=msg.error_code,
        error_message=msg.error_message,
        console_output=msg.console_output,
        console_truncated=msg.console_truncated,
    )


def command(row) -> pb.ConnectResponse:
    """An outbox row as the message the node receives: its stored Command and its ids."""
    cmd = pb.Command.FromString(row.body)
    cmd.command_id, cmd.request_id = row.id, row.request_id
    cmd.instance_id = row.instance_id or ""
    cmd.expires_at.FromDatetime(row.expires_at)  # naive UTC, as the outbox keeps times
    return pb.ConnectResponse(command=cmd)


def welcome(
    node_id: str, report_interval: float, service_down_time: float, max_message_bytes: int
) -> pb.ConnectResponse:
    return pb.ConnectResponse(
        welcome=pb.Welcome(
            node_id=node_id,
            report_interval_seconds=max(1, int(report_interval)),
            service_down_time_seconds=int(service_down_time),
            max_message_bytes=max_message_bytes,
        )
    )
