"""The libvirt connection: event loop thread, lifecycle callbacks, capabilities and stats.

libvirt delivers events only to a process that registered an event implementation before
opening its connections and keeps running it: one daemon thread per process does that. The
lifecycle callback runs on that thread and only hands events on (EventSubscription.offer);
it never calls back into libvirt.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import libvirt

from compute_node.drivers.base import (
    DriverError,
    EventKind,
    EventSubscription,
    LifecycleEvent,
    PowerState,
)
from compute_node.drivers.libvirt import accel

LOG = logging.getLogger(__name__)

_event_loop_lock = threading.Lock()
_event_loop_started = False


def _ignore_libvirt_error(_ctx: object, _err: object) -> None:
    # libvirt prints every error to stderr by default; ours surface as exceptions instead.
    pass


def start_event_loop() -> None:
    """Register libvirt's default event implementation and run it on a daemon thread, once
    per process. Must happen before the first connection is opened."""
    global _event_loop_started  # noqa: PLW0603 - one event loop per process
    with _event_loop_lock:
        if _event_loop_started:
            return
        libvirt.registerErrorHandler(_ignore_libvirt_error, None)
        libvirt.virEventRegisterDefaultImpl()

        def run() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=run, name="libvirt-events", daemon=True).start()
        _event_loop_started = True


def format_version(number: int) -> str:
    """libvirt encodes versions as major * 1_000_000 + minor * 1_000 + micro."""
    return f"{number // 1_000_000}.{number // 1_000 % 1_000}.{number % 1_000}"


# (event, detail) -> what happened; libvirt's numbering from virDomainEventType.
_EVENTS = {
    libvirt.VIR_DOMAIN_EVENT_DEFINED: (EventKind.DEFINED, None),
    libvirt.VIR_DOMAIN_EVENT_UNDEFINED: (EventKind.UNDEFINED, PowerState.NOSTATE),
    libvirt.VIR_DOMAIN_EVENT_STARTED: (EventKind.STARTED, PowerState.RUNNING),
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: (EventKind.PAUSED, PowerState.PAUSED),
    libvirt.VIR_DOMAIN_EVENT_RESUMED: (EventKind.RESUMED, PowerState.RUNNING),
    libvirt.VIR_DOMAIN_EVENT_STOPPED: (EventKind.STOPPED, PowerState.SHUTOFF),
    libvirt.VIR_DOMAIN_EVENT_SHUTDOWN: (EventKind.SHUTDOWN, PowerState.SHUTDOWN),
    libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: (EventKind.SUSPENDED, PowerState.SUSPENDED),
    libvirt.VIR_DOMAIN_EVENT_CRASHED: (EventKind.CRASHED, PowerState.CRASHED),
}


def lifecycle_event(uuid: str, event: int, detail: int) -> LifecycleEvent | None:
    kind, state = _EVENTS.get(event, (None, None))
    if kind is None:
        return None
    if (
        event == libvirt.VIR_DOMAIN_EVENT_STOPPED
        and detail == libvirt.VIR_DOMAIN_EVENT_STOPPED_SAVED
    ):
        kind, state = EventKind.SUSPENDED, PowerState.SUSPENDED
    if (
        event == libvirt.VIR_DOMAIN_EVENT_STOPPED
        and detail == libvirt.VIR_DOMAIN_EVENT_STOPPED_CRASHED
    ):
        kind, state = EventKind.CRASHED, PowerState.CRASHED
    if (
        event == libvirt.VIR_DOMAIN_EVENT_SHUTDOWN
        and detail == libvirt.VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED
    ):
        state = PowerState.SHUTDOWN
    if state is None:  # DEFINED says nothing about power
        state = PowerState.NOSTATE if kind is EventKind.UNDEFINED else PowerState.SHUTOFF
    return LifecycleEvent(
        uuid=uuid, kind=kind, power_state=state, detail=str(detail), timestamp=time.time()
    )


@dataclass(frozen=True)
class HostFacts:
    """What libvirt says about the host, read once per connection."""

    hostname: str
    hypervisor_type: str
    hypervisor_version: str
    arch: str
    cpu_model: str
    vcpus: int
    memory_mb: int
    emulator: str | None  # the QEMU binary for the host arch, when there is one
    is_test: bool


class Host:
    """One libvirt connection and its event subscriptions.

    A test:///path/node.xml URI gives a fresh simulated host on each open, so the connection
    is opened once and kept for the life of the Host.
    """

    def __init__(self, uri: str):
        self.uri = uri
        start_event_loop()
        self._subscriptions: list[EventSubscription] = []
        self._subs_lock = threading.Lock()
        self._conn_lock = threading.Lock()
        self._open()
        self.facts = self._read_facts()

    def _open(self) -> None:
        try:
            self._conn = libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            raise DriverError(f"cannot connect to {self.uri}: {exc.get_error_message()}") from exc
        self._callback_id = self._conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None
        )

    @property
    def conn(self) -> libvirt.virConnect:
        """The connection, opened again if the daemon went away (a restarted libvirtd).
        A test:///path/node.xml host is never reopened: that would be a new, empty host."""
        with self._conn_lock:
            if not self._conn.isAlive() and not self.uri.startswith("test:///"):
                LOG.warning("the connection to %s was lost; reconnecting", self.uri)
                with contextlib.suppress(libvirt.libvirtError):
                    self._conn.close()
                self._open()
            return self._conn

    def _read_facts(self) -> HostFacts:
        conn = self._conn
        info = conn.getInfo()  # [model, memory MiB, cpus, mhz, nodes, sockets, cores, threads]
        caps = ET.fromstring(conn.getCapabilities())
        arch = caps.findtext("host/cpu/arch") or info[0]
        cpu_model = caps.findtext("host/cpu/model") or info[0]
        emulator = None
        for guest in caps.findall("guest"):
            if guest.find("arch").get("name") == arch:  # type: ignore[union-attr]
                emulator = guest.findtext("arch/emulator")
                break
        hv_type = conn.getType()
        return HostFacts(
            hostname=conn.getHostname(),
            hypervisor_type=hv_type,
            hypervisor_version=format_version(conn.getVersion()),
            arch=arch,
            cpu_model=cpu_model,
            vcpus=int(info[2]),
            memory_mb=int(info[1]),
            emulator=emulator,
            is_test=hv_type.upper() == "TEST",
        )

    def domain_type(self, configured: str = "auto") -> str:
        """`test` on the test driver; otherwise `kvm` when /dev/kvm can really run a guest
        (probed once, see accel.py), else `qemu` (TCG software emulation)."""
        if self.facts.is_test:
            return "test"
        if configured != "auto":
            return configured
        if self.facts.emulator and accel.kvm_works(self.facts.emulator):
            return "kvm"
        return "qemu"

    def free_memory_mb(self) -> int | None:
        # The test driver's node files report 0 free; that means "unknown", not "full".
        free = self._conn.getFreeMemory()
        return free // (1024 * 1024) if free > 0 else None

    def _on_lifecycle(
        self,
        _conn: libvirt.virConnect,
        dom: libvirt.virDomain,
        event: int,
        detail: int,
        _opaque: object,
    ) -> None:
        lifecycle = lifecycle_event(dom.UUIDString(), event, detail)
        if lifecycle is None:
            return
        with self._subs_lock:
            targets = list(self._subscriptions)
        for subscription in targets:
            subscription.offer(lifecycle)

    def subscribe(self, subscription: EventSubscription) -> None:
        with self._subs_lock:
            self._subscriptions.append(subscription)

    def unsubscribe(self, subscription: EventSubscription) -> None:
        with self._subs_lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
        subscription.closed = True

    def close(self) -> None:
        with self._subs_lock:
            self._subscriptions.clear()
        with contextlib.suppress(libvirt.libvirtError):
            self._conn.domainEventDeregisterAny(self._callback_id)
        with contextlib.suppress(libvirt.libvirtError):
            self._conn.close()


def disk_usage_gb(path: str) -> tuple[int, int]:
    """(total, free) GiB of the file system holding `path`."""
    os.makedirs(path, exist_ok=True)
    st = os.statvfs(path)
    return (st.f_blocks * st.f_frsize) // 2**30, (st.f_bavail * st.f_frsize) // 2**30
