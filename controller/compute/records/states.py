"""Server states as Nova keeps them: a vm_state, a task_state, and the status users see,
derived from both. Which action may start from which state lives here, and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass

from stratus_common.errors import FailedPrecondition

# vm_state: what the server is
BUILDING = "building"
ACTIVE = "active"
STOPPED = "stopped"
PAUSED = "paused"
SUSPENDED = "suspended"
RESIZED = "resized"
SHELVED_OFFLOADED = "shelved_offloaded"
ERROR = "error"
DELETED = "deleted"

# task_state: what is being done to it; None when nothing
SCHEDULING = "scheduling"
SPAWNING = "spawning"
POWERING_OFF = "powering-off"
POWERING_ON = "powering-on"
REBOOTING = "rebooting"
REBOOTING_HARD = "rebooting_hard"
PAUSING = "pausing"
UNPAUSING = "unpausing"
SUSPENDING = "suspending"
RESUMING = "resuming"
DELETING = "deleting"
IMAGE_SNAPSHOT = "image_snapshot"
REBUILDING = "rebuilding"
RESIZE_PREP = "resize_prep"
RESIZE_MIGRATING = "resize_migrating"
RESIZE_FINISH = "resize_finish"
RESIZE_CONFIRMING = "resize_confirming"
RESIZE_REVERTING = "resize_reverting"
RESIZING = (RESIZE_PREP, RESIZE_MIGRATING, RESIZE_FINISH)
SHELVING = "shelving"

# power_state, as the hypervisor reports it
NOSTATE = "nostate"
RUNNING = "running"
POWER_PAUSED = "paused"
SHUTDOWN = "shutdown"
CRASHED = "crashed"
POWER_SUSPENDED = "suspended"


def status(vm_state: str, task_state: str | None) -> str:
    """The user-facing status (Nova's api/openstack/common.py state map)."""
    if vm_state == DELETED:
        return "DELETED"
    if task_state == REBOOTING_HARD:
        return "HARD_REBOOT"
    if task_state == REBUILDING:
        return "REBUILD"
    if task_state in RESIZING:
        return "RESIZE"
    if task_state == RESIZE_REVERTING:
        return "REVERT_RESIZE"
    if vm_state == ACTIVE and task_state == REBOOTING:
        return "REBOOT"
    return {
        BUILDING: "BUILD",
        ACTIVE: "ACTIVE",
        STOPPED: "SHUTOFF",
        PAUSED: "PAUSED",
        SUSPENDED: "SUSPENDED",
        RESIZED: "VERIFY_RESIZE",
        SHELVED_OFFLOADED: "SHELVED_OFFLOADED",
        ERROR: "ERROR",
    }[vm_state]


@dataclass(frozen=True)
class Action:
    """A user action: the states it may start from, the task it sets, where it ends."""

    name: str
    from_vm_states: frozenset[str]
    from_task_states: frozenset[str | None]
    task_state: str
    # the vm_state once the host reports success
    result_vm_state: str
    needs_host: bool = True


def _action(
    name: str,
    vm_states: tuple[str, ...],
    task: str,
    result: str,
    tasks: tuple[str | None, ...] = (None,),
) -> Action:
    return Action(name, frozenset(vm_states), frozenset(tasks), task, result)


ACTIONS = {
    a.name: a
    for a in (
        # Stopping an ERROR server that runs on a host is how an operator recovers it (Nova).
        _action("stop", (ACTIVE, ERROR), POWERING_OFF, STOPPED),
        _action("start", (STOPPED,), POWERING_ON, ACTIVE),
        _action("reboot", (ACTIVE,), REBOOTING, ACTIVE),
        # A hard reboot may interrupt a soft one that hangs.
        _action(
            "reboot_hard",
            (ACTIVE, STOPPED, PAUSED, SUSPENDED, ERROR),
            REBOOTING_HARD,
            ACTIVE,
            tasks=(None, REBOOTING),
        ),
        _action("pause", (ACTIVE,), PAUSING, PAUSED),
        _action("unpause", (PAUSED,), UNPAUSING, ACTIVE),
        _action("suspend", (ACTIVE,), SUSPENDING, SUSPENDED),
        _action("resume", (SUSPENDED,), RESUMING, ACTIVE),
    )
}


# Nova's createImage: from any settled state a guest has a disk in; the state stays.
CREATE_IMAGE = Action(
    "create_image",
    frozenset({ACTIVE, STOPPED, PAUSED, SUSPENDED}),
    frozenset({None}),
    IMAGE_SNAPSHOT,
    "",
)


# Nova's rebuild: the guest made again from an image on its host; ACTIVE afterwards.
REBUILD = Action(
    "rebuild", frozenset({ACTIVE, STOPPED, ERROR}), frozenset({None}), REBUILDING, ACTIVE
)


# Nova's resize: from a settled guest that runs or is off; VERIFY_RESIZE afterwards.
RESIZE = Action("resize", frozenset({ACTIVE, STOPPED}), frozenset({None}), RESIZE_PREP, RESIZED)
MIGRATE = Action("migrate", frozenset({ACTIVE, STOPPED}), frozenset({None}), RESIZE_PREP, RESIZED)
# Nova's evacuate: the server is built again elsewhere; its dead host is checked apart.
EVACUATE = Action(
    "evacuate", frozenset({ACTIVE, STOPPED, ERROR}), frozenset({None}), SCHEDULING, ACTIVE
)
# Nova's shelve (offloaded at once): the disk saved into an image, the host freed.
SHELVE = Action(
    "shelve",
    frozenset({ACTIVE, STOPPED, PAUSED, SUSPENDED}),
    frozenset({None}),
    SHELVING,
    SHELVED_OFFLOADED,
)
# Built again from that image, on any host.
UNSHELVE = Action(
    "unshelve",
    frozenset({SHELVED_OFFLOADED}),
    frozenset({None}),
    SCHEDULING,
    ACTIVE,
    needs_host=False,
)
CONFIRM_RESIZE = Action(
    "confirm_resize", frozenset({RESIZED}), frozenset({None}), RESIZE_CONFIRMING, ACTIVE
)
REVERT_RESIZE = Action(
    "revert_resize", frozenset({RESIZED}), frozenset({None}), RESIZE_REVERTING, ACTIVE
)


def check_action(action: Action, vm_state: str, task_state: str | None, host: str | None) -> None:
    """Raises FailedPrecondition (reason INVALID_SERVER_STATE) when Nova would refuse."""
    if vm_state not in action.from_vm_states or task_state not in action.from_task_states:
        current = status(vm_state, task_state)
        doing = f" while {task_state}" if task_state else ""
        raise FailedPrecondition(
            f"cannot {action.name.replace('_', ' ')} a server in status {current}{doing}",
            reason="INVALID_SERVER_STATE",
            action=action.name,
            status=current,
            task_state=task_state or "",
        )
    if action.needs_host and not host:
        raise FailedPrecondition(
            f"cannot {action.name.replace('_', ' ')} a server that was never placed on a host",
            reason="INVALID_SERVER_STATE",
            action=action.name,
            status=status(vm_state, task_state),
        )


def check_unlocked(locked: bool, is_admin: bool, action: str) -> None:
    """A locked server refuses actions from anyone but admins (Nova's check_instance_lock)."""
    if locked and not is_admin:
        raise FailedPrecondition(
            f"cannot {action.replace('_', ' ')} a locked server: unlock it first",
            reason="SERVER_LOCKED",
            action=action,
        )
