"""Node commands as the node receives them: the `stratus.node.v1.Command` message, built here
from plain values and read back here where the conductor's decisions need a part of it.

The outbox keeps each command's message less its ids (`node_command.body`); `convert.command`
adds them when the command is sent. No other module of the conductor builds or parses one.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.image.port import BootImages, ImageRef
from stratus.node.v1 import node_service_pb2 as pb

# Compute API action name -> the node's power operation.
OPERATIONS = {
    "stop": pb.POWER_OPERATION_STOP,
    "start": pb.POWER_OPERATION_START,
    "reboot": pb.POWER_OPERATION_REBOOT_SOFT,
    "reboot_hard": pb.POWER_OPERATION_REBOOT_HARD,
    "pause": pb.POWER_OPERATION_PAUSE,
    "unpause": pb.POWER_OPERATION_UNPAUSE,
    "suspend": pb.POWER_OPERATION_SUSPEND,
    "resume": pb.POWER_OPERATION_RESUME,
}
ACTION_NAMES = {operation: name for name, operation in OPERATIONS.items()}


@dataclass(frozen=True)
class Body:
    """A command for the outbox: its kind (the Command's action: spawn, power, destroy,
    console_output) and its message less the ids, serialized."""

    kind: str
    data: bytes


@dataclass(frozen=True)
class Guest:
    """What a guest learns of itself at first boot (its config drive)."""

    config_drive: bool
    hostname: str
    project_id: str
    availability_zone: str
    key_name: str = ""
    public_key: str = ""  # OpenSSH format; "" for no key pair
    user_data: bytes = b""


def _body(command: pb.Command) -> Body:
    return Body(command.WhichOneof("action"), command.SerializeToString())


def _ref(target: pb.ImageRef, ref: ImageRef) -> None:
    target.image_id, target.disk_format = ref.image_id, ref.disk_format
    target.os_hash_value, target.size = ref.os_hash_value, ref.size


def rebuild(spawn_body: Body) -> Body:
    """The guest destroyed and spawned again as `spawn_body` (a spawn()) says."""
    command = pb.Command()
    command.rebuild.spawn.CopyFrom(pb.Command.FromString(spawn_body.data).spawn)
    return _body(command)


def spawn(
    name: str,
    vcpus: int,
    memory_mb: int,
    disk_gb: int,
    boot: BootImages,
    metadata: dict[str, str],
    guest: Guest,
    ports: list[pb.NodePort] | None = None,
) -> Body:
    # Filled in place: a message passed to a constructor is copied (this runs per placement).
    command = pb.Command()
    action = command.spawn
    action.name, action.vcpus, action.memory_mb, action.disk_gb = name, vcpus, memory_mb, disk_gb
    for target, ref in (
        (action.image, boot.image),
        (action.kernel, boot.kernel),
        (action.ramdisk, boot.ramdisk),
    ):
        if ref is not None:
            _ref(target, ref)
    action.kernel_cmdline = boot.kernel_cmdline
    action.metadata.update(metadata)
    data = action.guest
    data.config_drive, data.hostname = guest.config_drive, guest.hostname
    data.project_id, data.availability_zone = guest.project_id, guest.availability_zone
    data.user_data = guest.user_data
    if guest.public_key:
        data.keys.add(name=guest.key_name, type="ssh", public_key=guest.public_key)
    action.ports.extend(ports or [])
    return _body(command)


def power(action_name: str) -> Body:
    return _body(pb.Command(power=pb.PowerAction(operation=OPERATIONS[action_name])))


def destroy() -> Body:
    return _body(pb.Command(destroy=pb.DestroyAction()))


def console_output(max_bytes: int) -> Body:
    return _body(pb.Command(console_output=pb.ConsoleOutputAction(max_bytes=max_bytes)))


def snapshot(image_id: str) -> Body:
    return _body(pb.Command(snapshot=pb.SnapshotAction(image_id=image_id)))


def snapshot_image(data: bytes) -> str:
    """The image a stored snapshot (or resize_out) command fills."""
    command = pb.Command.FromString(data)
    return command.resize_out.image_id or command.snapshot.image_id


def resize_out(image_id: str) -> Body:
    return _body(pb.Command(resize_out=pb.ResizeOutAction(image_id=image_id)))


def confirm_resize() -> Body:
    return _body(pb.Command(confirm_resize=pb.ConfirmResizeAction()))


def revert_resize(start: bool) -> Body:
    return _body(pb.Command(revert_resize=pb.RevertResizeAction(start=start)))


def power_action(data: bytes) -> str:
    """The compute API action name of a stored power command."""
    return ACTION_NAMES[pb.Command.FromString(data).power.operation]


def image_ids(data: bytes) -> set[str]:
    """The images a stored spawn or rebuild command boots from (none for other commands)."""
    command = pb.Command.FromString(data)
    spawn_ = command.rebuild.spawn if command.HasField("rebuild") else command.spawn
    return {ref.image_id for ref in (spawn_.image, spawn_.kernel, spawn_.ramdisk)} - {""}
