"""[conductor] settings. A node is down after [compute] service_down_time without a heartbeat."""

import dataclasses
import typing


@dataclasses.dataclass
class ConductorSection:
    section: typing.ClassVar[str] = "conductor"
    # Nodes send a heartbeat this often (told to them in the welcome).
    report_interval: float = 10.0
    # A command without a result after this long ends in a fault on its instance.
    command_timeout: float = 300.0
    # The same for spawns, which fetch images and boot.
    spawn_timeout: float = 600.0
    # The same for snapshots (CreateServerImage), which copy and send a whole disk.
    snapshot_timeout: float = 1800.0
    # Console output requests wait this long for the node.
    console_timeout: float = 30.0
    # Commands sent to one node and not answered yet; the rest wait in the outbox.
    max_inflight_commands: int = 32
    # Messages waiting to be written to one node's stream.
    send_queue_size: int = 64
    # How often the conductor looks, for all its node streams at once, for commands written
    # by another controller replica.
    outbox_poll_interval: float = 1.0
    # How often timeouts, stuck tasks and old commands are looked for.
    sweep_interval: float = 5.0
    # A server whose task has had no command for this long gets one (a controller stopped
    # between recording the task and writing the command).
    stuck_task_grace: float = 30.0
    # What to do with a domain on a node whose server is deleted: "log" or "reap" (destroy).
    running_deleted_instance_action: str = "log"
    # Hosts tried for one server before the build fails.
    max_build_attempts: int = 3
    # Finished commands are kept this long, for debugging.
    command_retention: float = 86400.0
    # A node's first message must come within this many seconds.
    hello_timeout: float = 30.0


@dataclasses.dataclass
class ResizeSection:
    """[resize]: resizes and cold migrations (Nova's option names)."""

    section: typing.ClassVar[str] = "resize"
    # Whether a resize may claim the new flavor on the server's own host (Nova's default is
    # no: the scheduler picks another host; an all-in-one needs yes).
    allow_resize_to_same_host: bool = False
    # A resize waiting for its confirm this many seconds is confirmed by the controller;
    # 0 never does (Nova's resize_confirm_window).
    resize_confirm_window: float = 0.0
