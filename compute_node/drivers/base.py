"""The hypervisor driver interface: plain dataclasses in, plain dataclasses out.

Every method is blocking (libvirt calls block): the agent calls them from a worker thread
(`asyncio.to_thread`). Only `subscribe` touches the asyncio loop, and only through
`loop.call_soon_threadsafe`. Errors are the typed exceptions below; nothing here knows about
gRPC or protobuf.
"""

from __future__ import annotations

import abc
import asyncio
import enum
from dataclasses import dataclass, field


class PowerState(str, enum.Enum):
    """What the hypervisor says a guest is doing (Nova's power states, plus SHUTOFF)."""

    NOSTATE = "NOSTATE"  # unknown, or the domain is gone
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"  # vCPUs stopped, memory kept (pause)
    SHUTDOWN = "SHUTDOWN"  # a guest shutdown is in progress
    SHUTOFF = "SHUTOFF"
    CRASHED = "CRASHED"
    SUSPENDED = "SUSPENDED"  # memory saved to disk, nothing running (suspend)


class EventKind(str, enum.Enum):
    DEFINED = "DEFINED"
    UNDEFINED = "UNDEFINED"
    STARTED = "STARTED"
    PAUSED = "PAUSED"
    RESUMED = "RESUMED"
    STOPPED = "STOPPED"
    SHUTDOWN = "SHUTDOWN"
    SUSPENDED = "SUSPENDED"
    CRASHED = "CRASHED"


class RebootKind(str, enum.Enum):
    SOFT = "SOFT"  # ask the guest, fall back to HARD after the shutdown timeout
    HARD = "HARD"  # power cycle: destroy and start again from the same definition


@dataclass(frozen=True)
class ImageFile:
    """One file a guest boots from. Either a cached image (`image_id`, resolved and
    reference-counted through the node's image cache) or a plain `path`."""

    image_id: str | None = None
    path: str | None = None
    disk_format: str = "raw"  # raw or qcow2 for disks; kernels and ramdisks are raw


@dataclass(frozen=True)
class GuestKey:
    """A key pair's public half, as the config drive lists it."""

    name: str
    type: str  # "ssh" (Nova's key pair type)
    public_key: str


@dataclass(frozen=True)
class GuestData:
    """What the guest learns of itself at first boot, written on its config drive."""

    hostname: str
    project_id: str = ""
    availability_zone: str = ""
    keys: tuple[GuestKey, ...] = ()
    user_data: bytes = b""  # handed over as given; empty for none


@dataclass(frozen=True)
class NicSpec:
    """A network port plugged into the guest: its interface is a tap named from the port
    (compute_node.network.names.tap), which the node's network wiring puts on the port's
    network; the hypervisor only creates it."""

    port_id: str
    mac_address: str
    tap: str
    mtu: int = 0  # 0: the host's default


@dataclass(frozen=True)
class InstanceSpec:
    uuid: str
    name: str
    vcpus: int
    memory_mb: int
    disk_gb: int = 0  # 0: the root disk keeps the image's virtual size
    root_disk: ImageFile | None = None  # None with disk_gb > 0: a blank disk
    kernel: ImageFile | None = None  # direct kernel boot when given
    ramdisk: ImageFile | None = None
    cmdline: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    guest: GuestData | None = None  # None: no config drive
    nics: tuple[NicSpec, ...] = ()  # empty: the driver's configured network


@dataclass(frozen=True)
class InstanceAddress:
    network: str  # the node's network: a bridge's name, or "user"
    address: str
    version: int  # 4 or 6
    mac: str


@dataclass(frozen=True)
class InstanceInfo:
    uuid: str
    name: str  # the instance name given at spawn ("" for foreign domains)
    power_state: PowerState
    managed: bool  # defined by this driver (False: a domain someone else made)
    vcpus: int = 0
    memory_mb: int = 0
    addresses: tuple[InstanceAddress, ...] = ()  # the IPs the hypervisor knows of


@dataclass(frozen=True)
class HostStats:
    hostname: str
    hypervisor_type: str  # libvirt's driver name: "QEMU", "Test"
    hypervisor_version: str  # "7.2.0"
    domain_type: str  # what guests are defined as: "kvm", "qemu" (TCG) or "test"
    arch: str
    cpu_model: str
    vcpus: int
    vcpus_used: int  # sum over running guests
    memory_mb: int
    memory_mb_used: int  # sum over running guests
    free_memory_mb: int | None  # what the host reports free; None where libvirt cannot say
    disk_gb: int  # the file system holding instance disks
    disk_gb_free: int
    running_instances: int


@dataclass(frozen=True)
class LifecycleEvent:
    uuid: str
    kind: EventKind
    power_state: PowerState  # the state the event implies
    detail: str = ""
    timestamp: float = 0.0


@dataclass(frozen=True)
class ConsoleOutput:
    text: str
    truncated: bool  # True when older output was cut off


@dataclass(frozen=True)
class Capabilities:
    """What a driver can do; the conductor refuses actions a host cannot perform."""

    direct_kernel_boot: bool
    pause: bool
    suspend: bool
    soft_reboot: bool
    console_output: bool
    vnc_console: bool
    lifecycle_events: bool
    copy_on_write_disks: bool
    snapshot: bool = False


class DriverError(Exception):
    """A hypervisor operation failed; the message is safe to show an operator."""


class InstanceNotFound(DriverError):
    pass


class InstanceExists(DriverError):
    pass


class InvalidSpec(DriverError):
    pass


class InvalidState(DriverError):
    """The action does not apply to the guest's current power state."""


class EventSubscription:
    """A bounded, thread-safe handoff of lifecycle events into one asyncio loop.

    `offer` may be called from any thread; it never blocks. When the queue is full the event
    is dropped and `lost` counts it: the consumer should then send a full inventory instead.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int = 1000):
        self.loop = loop
        self.queue: asyncio.Queue[LifecycleEvent] = asyncio.Queue(maxsize)
        self.lost = 0
        self.closed = False

    def offer(self, event: LifecycleEvent) -> None:
        if self.closed:
            return
        try:
            self.loop.call_soon_threadsafe(self._put, event)
        except RuntimeError:  # the loop is closed
            self.closed = True

    def _put(self, event: LifecycleEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lost += 1

    async def get(self) -> LifecycleEvent:
        return await self.queue.get()


class ComputeDriver(abc.ABC):
    """One hypervisor on one host.

    Capabilities table (`capabilities`), for the drivers that exist:

    | capability          | libvirt qemu/kvm | libvirt test:// |
    | ------------------- | ---------------- | --------------- |
    | direct_kernel_boot  | yes              | accepted, not booted |
    | pause / unpause     | yes              | yes             |
    | suspend / resume    | yes (managed save) | yes           |
    | soft_reboot         | yes (ACPI; hard after timeout) | yes |
    | console_output      | yes (serial log) | empty log       |
    | vnc_console         | yes (localhost)  | no              |
    | lifecycle_events    | yes              | yes             |
    | copy_on_write_disks | yes (qcow2 overlay) | files made, not used |
    | snapshot            | yes (paused while copied) | yes (the disk files made) |
    """

    capabilities: Capabilities

    @abc.abstractmethod
    def spawn(self, spec: InstanceSpec) -> InstanceInfo:
        """Create the disks, define the guest and start it. With `spec.guest`, a config drive
        (config_drive.py) is written in the instance's directory and attached read-only; it
        goes with the guest's other files.

        Raises InstanceExists if a guest with this uuid is already defined (nothing is
        touched then). On any other failure everything this call created is removed before
        the error is raised: the partial guest definition, the instance directory and its
        disks, and the image cache references taken for the instance.
        """

    @abc.abstractmethod
    def destroy(self, uuid: str) -> None:
        """Power off hard, undefine, delete the instance's disks and logs, and release its
        image cache references. Idempotent: destroying an unknown uuid succeeds."""

    @abc.abstractmethod
    def stop(self, uuid: str, timeout: float | None = None) -> InstanceInfo:
        """Ask the guest to shut down, then power off hard after `timeout` seconds (the
        driver's default when None; 0 powers off at once). Stopping a stopped guest is a
        no-op. Disks and definition are kept."""

    @abc.abstractmethod
    def start(self, uuid: str) -> InstanceInfo:
        """Power on a stopped or suspended guest. Starting a running guest is a no-op;
        a paused guest raises InvalidState (unpause it)."""

    @abc.abstractmethod
    def reboot(self, uuid: str, kind: RebootKind) -> InstanceInfo:
        """Reboot a running guest; SOFT falls back to HARD if the guest does not stop
        within the shutdown timeout. The guest is RUNNING when this returns."""

    @abc.abstractmethod
    def pause(self, uuid: str) -> InstanceInfo:
        """Freeze the vCPUs of a running guest, keeping its memory. Idempotent."""

    @abc.abstractmethod
    def unpause(self, uuid: str) -> InstanceInfo:
        """Undo pause. Idempotent."""

    @abc.abstractmethod
    def suspend(self, uuid: str) -> InstanceInfo:
        """Save a running or paused guest's memory to disk and stop it. Idempotent."""

    @abc.abstractmethod
    def resume(self, uuid: str) -> InstanceInfo:
        """Restore a suspended guest from its saved memory. Idempotent."""

    @abc.abstractmethod
    def get_info(self, uuid: str) -> InstanceInfo:
        """One guest; raises InstanceNotFound."""

    def snapshot(self, uuid: str, target: str) -> None:
        """Write the guest's root disk, as it is now, to `target` as one standalone qcow2. A
        running guest is paused while its disk is read and runs again afterwards, whatever
        happened. Raises InstanceNotFound, or InvalidState for a guest without a disk."""
        raise DriverError("this driver cannot take snapshots")

    def resize_out(self, uuid: str, target: str) -> None:
        """The source's half of a resize: power the guest off (gracefully first) and write
        its root disk to `target` as one standalone qcow2. The guest stays defined."""
        raise DriverError("this driver cannot resize guests")

    def set_aside(self, uuid: str) -> None:
        """After resize_out, once its disk is safe elsewhere: undefine the guest, keeping its
        files, so the same uuid can be spawned anew, here or on another host."""
        raise DriverError("this driver cannot resize guests")

    def confirm_resize(self, uuid: str) -> None:
        """Remove the guest set aside by resize_out; nothing to do when there is none."""
        raise DriverError("this driver cannot resize guests")

    def revert_resize(self, uuid: str, start: bool) -> InstanceInfo:
        """Define the guest set aside by resize_out again (and start it when `start`); a
        guest of that uuid defined meanwhile must have been destroyed first."""
        raise DriverError("this driver cannot resize guests")

    @abc.abstractmethod
    def list_instances(self) -> dict[str, InstanceInfo]:
        """Every guest the hypervisor knows, by uuid, including domains this driver did not
        define (`managed` False), so reconciliation can report them."""

    @abc.abstractmethod
    def host_stats(self) -> HostStats:
        """Capacity and usage as the hypervisor reports them."""

    @abc.abstractmethod
    def console_output(self, uuid: str, max_bytes: int = 65536) -> ConsoleOutput:
        """The last `max_bytes` of the guest's serial console log."""

    @abc.abstractmethod
    def subscribe(self, subscription: EventSubscription) -> None:
        """Deliver every lifecycle event to `subscription.offer` from now on. The callback
        runs on the hypervisor's event thread and only enqueues."""

    @abc.abstractmethod
    def unsubscribe(self, subscription: EventSubscription) -> None:
        """Stop delivering to `subscription`."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the hypervisor connection. Guests keep running."""
