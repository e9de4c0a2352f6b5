"""Domain rows to stratus.compute.v1 messages and back. Nothing else lives here."""

from __future__ import annotations

from controller.compute.api.quota_rules import QuotaValues
from controller.compute.records import states
from controller.rpc.convert import timestamp
from stratus.compute.v1 import compute_service_pb2 as pb

STATUS = {
    "BUILD": pb.SERVER_STATUS_BUILD,
    "ACTIVE": pb.SERVER_STATUS_ACTIVE,
    "SHUTOFF": pb.SERVER_STATUS_SHUTOFF,
    "REBOOT": pb.SERVER_STATUS_REBOOT,
    "HARD_REBOOT": pb.SERVER_STATUS_HARD_REBOOT,
    "PAUSED": pb.SERVER_STATUS_PAUSED,
    "SUSPENDED": pb.SERVER_STATUS_SUSPENDED,
    "ERROR": pb.SERVER_STATUS_ERROR,
    "DELETED": pb.SERVER_STATUS_DELETED,
    "REBUILD": pb.SERVER_STATUS_REBUILD,
    "RESIZE": pb.SERVER_STATUS_RESIZE,
    "VERIFY_RESIZE": pb.SERVER_STATUS_VERIFY_RESIZE,
    "REVERT_RESIZE": pb.SERVER_STATUS_REVERT_RESIZE,
    "SHELVED_OFFLOADED": pb.SERVER_STATUS_SHELVED_OFFLOADED,
}

# A status filter selects servers by vm_state (the task refines BUILD/REBOOT only in display).
STATUS_FILTER = {
    pb.SERVER_STATUS_BUILD: (states.BUILDING,),
    pb.SERVER_STATUS_ACTIVE: (states.ACTIVE,),
    pb.SERVER_STATUS_SHUTOFF: (states.STOPPED,),
    pb.SERVER_STATUS_PAUSED: (states.PAUSED,),
    pb.SERVER_STATUS_SUSPENDED: (states.SUSPENDED,),
    pb.SERVER_STATUS_ERROR: (states.ERROR,),
    pb.SERVER_STATUS_DELETED: (states.DELETED,),
    pb.SERVER_STATUS_REBOOT: (states.ACTIVE,),
    pb.SERVER_STATUS_HARD_REBOOT: (states.ACTIVE,),
    pb.SERVER_STATUS_VERIFY_RESIZE: (states.RESIZED,),
    pb.SERVER_STATUS_SHELVED_OFFLOADED: (states.SHELVED_OFFLOADED,),
}

TASK = {
    None: pb.TASK_STATE_NONE,
    states.SCHEDULING: pb.TASK_STATE_SCHEDULING,
    states.SPAWNING: pb.TASK_STATE_SPAWNING,
    states.POWERING_OFF: pb.TASK_STATE_POWERING_OFF,
    states.POWERING_ON: pb.TASK_STATE_POWERING_ON,
    states.REBOOTING: pb.TASK_STATE_REBOOTING,
    states.REBOOTING_HARD: pb.TASK_STATE_REBOOTING_HARD,
    states.PAUSING: pb.TASK_STATE_PAUSING,
    states.UNPAUSING: pb.TASK_STATE_UNPAUSING,
    states.SUSPENDING: pb.TASK_STATE_SUSPENDING,
    states.RESUMING: pb.TASK_STATE_RESUMING,
    states.DELETING: pb.TASK_STATE_DELETING,
    states.IMAGE_SNAPSHOT: pb.TASK_STATE_IMAGE_SNAPSHOT,
    states.REBUILDING: pb.TASK_STATE_REBUILDING,
    states.RESIZE_PREP: pb.TASK_STATE_RESIZE_PREP,
    states.RESIZE_MIGRATING: pb.TASK_STATE_RESIZE_MIGRATING,
    states.RESIZE_FINISH: pb.TASK_STATE_RESIZE_FINISH,
    states.RESIZE_CONFIRMING: pb.TASK_STATE_RESIZE_CONFIRMING,
    states.RESIZE_REVERTING: pb.TASK_STATE_RESIZE_REVERTING,
    states.SHELVING: pb.TASK_STATE_SHELVING,
}

POWER = {
    states.NOSTATE: pb.POWER_STATE_NOSTATE,
    states.RUNNING: pb.POWER_STATE_RUNNING,
    states.POWER_PAUSED: pb.POWER_STATE_PAUSED,
    states.SHUTDOWN: pb.POWER_STATE_SHUTDOWN,
    states.CRASHED: pb.POWER_STATE_CRASHED,
    states.POWER_SUSPENDED: pb.POWER_STATE_SUSPENDED,
}

POLICY = {
    "affinity": pb.SERVER_GROUP_POLICY_AFFINITY,
    "anti-affinity": pb.SERVER_GROUP_POLICY_ANTI_AFFINITY,
    "soft-affinity": pb.SERVER_GROUP_POLICY_SOFT_AFFINITY,
    "soft-anti-affinity": pb.SERVER_GROUP_POLICY_SOFT_ANTI_AFFINITY,
}
POLICY_NAME = {v: k for k, v in POLICY.items()}

RESULT = {
    "in_progress": pb.ACTION_RESULT_IN_PROGRESS,
    "success": pb.ACTION_RESULT_SUCCESS,
    "error": pb.ACTION_RESULT_ERROR,
}


def flavor(row) -> pb.Flavor:
    return pb.Flavor(
        id=row.id,
        name=row.name,
        vcpus=row.vcpus,
        ram_mb=row.ram_mb,
        disk_gb=row.disk_gb,
        ephemeral_gb=row.ephemeral_gb,
        swap_mb=row.swap_mb,
        is_public=row.is_public,
        description=row.description,
        extra_specs=row.extra_specs,
        create_time=timestamp(row.created_at),
    )


def server(row, show_host: bool) -> pb.Server:
    status = "DELETED" if row.deleted_at else states.status(row.vm_state, row.task_state)
    msg = pb.Server(
        id=row.id,
        name=row.name,
        project_id=row.project_id,
        user_id=row.user_id,
        status=STATUS[status],
        task_state=TASK.get(row.task_state, pb.TASK_STATE_UNSPECIFIED),
        power_state=POWER.get(row.power_state, pb.POWER_STATE_UNSPECIFIED),
        flavor_id=row.flavor_id,
        flavor=pb.ServerFlavor(
            name=row.flavor_name,
            vcpus=row.vcpus,
            ram_mb=row.ram_mb,
            disk_gb=row.disk_gb,
            ephemeral_gb=row.ephemeral_gb,
            swap_mb=row.swap_mb,
            extra_specs=row.extra_specs,
        ),
        image_id=row.image_id,
        key_name=row.key_name,
        availability_zone=row.availability_zone,
        server_group_id=row.server_group_id or "",
        metadata=row.metadata,
        host=(row.host or "") if show_host else "",
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
        launch_time=timestamp(row.launched_at),
        revision=row.revision,
        config_drive=row.config_drive,
        locked=row.locked,
        locked_reason=row.locked_reason or "",
    )
    if row.vm_state == states.ERROR and row.fault_message:
        msg.fault.CopyFrom(
            pb.ServerFault(
                code=row.fault_code or 500,
                message=row.fault_message,
                create_time=timestamp(row.fault_time),
            )
        )
    for network, addresses in (row.addresses or {}).items():
        for a in addresses:
            msg.addresses.add(
                network=network,
                address=a.get("address", ""),
                version=int(a.get("version", 4)),
                mac_address=a.get("mac", ""),
            )
    return msg


def action(row, events, show_host: bool) -> pb.ServerAction:
    return pb.ServerAction(
        action=row.action,
        request_id=row.request_id,
        user_id=row.user_id,
        project_id=row.project_id,
        start_time=timestamp(row.start_time),
        finish_time=timestamp(row.finish_time),
        result=RESULT[row.result],
        message=row.message,
        events=[
            pb.ServerActionEvent(
                event=e.event,
                start_time=timestamp(e.start_time),
                finish_time=timestamp(e.finish_time),
                result=RESULT[e.result],
                host=e.host if show_host else "",
            )
            for e in events
        ],
    )


def key_pair(row, private_key: str = "") -> pb.KeyPair:
    return pb.KeyPair(
        name=row.name,
        user_id=row.user_id,
        public_key=row.public_key,
        private_key=private_key,
        fingerprint=row.fingerprint,
        create_time=timestamp(row.created_at),
    )


def server_group(row, members) -> pb.ServerGroup:
    return pb.ServerGroup(
        id=row.id,
        name=row.name,
        policy=POLICY[row.policy],
        max_server_per_host=row.max_server_per_host,
        member_ids=members,
        project_id=row.project_id,
        user_id=row.user_id,
        create_time=timestamp(row.created_at),
    )


def quota_values(values: QuotaValues) -> pb.QuotaValues:
    return pb.QuotaValues(**values.as_dict())


def compute_service(node, up: bool) -> pb.ComputeServiceRecord:
    return pb.ComputeServiceRecord(
        id=node.id,
        host=node.hostname,
        availability_zone=node.availability_zone,
        status=pb.SERVICE_STATUS_ENABLED if node.enabled else pb.SERVICE_STATUS_DISABLED,
        state=pb.SERVICE_STATE_UP if up else pb.SERVICE_STATE_DOWN,
        disabled_reason=node.disabled_reason,
        heartbeat_time=timestamp(node.heartbeat_at),
    )
