"""Operations on one libvirt domain, each leaving it in a known power state."""

from __future__ import annotations

import time
from collections.abc import Callable

import libvirt

from compute_node.drivers.base import DriverError, InstanceAddress, InstanceNotFound, PowerState

_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: PowerState.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: PowerState.RUNNING,  # running, waiting on I/O
    libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: PowerState.SHUTOFF,
    libvirt.VIR_DOMAIN_CRASHED: PowerState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.SUSPENDED,
}
_POLL = 0.2


def libvirt_error(what: str, exc: libvirt.libvirtError) -> DriverError:
    if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
        return InstanceNotFound(what)
    return DriverError(f"{what}: {exc.get_error_message()}")


class Guest:
    def __init__(self, domain: libvirt.virDomain):
        self.domain = domain

    @classmethod
    def lookup(cls, conn: libvirt.virConnect, uuid: str) -> Guest:
        try:
            return cls(conn.lookupByUUIDString(uuid))
        except libvirt.libvirtError as exc:
            raise libvirt_error(f"instance {uuid} not found", exc) from exc

    @property
    def uuid(self) -> str:
        return self.domain.UUIDString()

    def power_state(self) -> PowerState:
        state, _reason = self.domain.state()
        power = _STATES.get(state, PowerState.NOSTATE)
        if power is PowerState.SHUTOFF and self.domain.hasManagedSaveImage(0):
            return PowerState.SUSPENDED
        return power

    def addresses(self, network: str) -> tuple[InstanceAddress, ...]:
        """The IPs libvirt knows of for the guest's interfaces, all on `network`: its DHCP
        leases on a libvirt network, or the test driver's own. None when it knows none (QEMU
        user networking keeps its leases to itself; on a bridge, whoever serves DHCP does:
        docs/adr/0008-all-in-one-guest-network.md)."""
        try:
            found = self.domain.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE)
        except libvirt.libvirtError:
            return ()
        return tuple(
            InstanceAddress(
                network=network,
                address=a["addr"],
                mac=iface.get("hwaddr") or "",
                version=6 if a["type"] == libvirt.VIR_IP_ADDR_TYPE_IPV6 else 4,
            )
            for iface in found.values()
            for a in iface.get("addrs") or ()
        )

    def _call(self, what: str, fn: Callable[..., object], *args: object) -> object:
        try:
            return fn(*args)
        except libvirt.libvirtError as exc:
            raise libvirt_error(f"{what} {self.uuid}", exc) from exc

    def start(self) -> None:
        # Starts a stopped domain, or restores a managed save image if there is one.
        self._call("start", self.domain.create)

    def power_off(self) -> None:
        if self.domain.isActive():
            try:
                self.domain.destroy()
            except libvirt.libvirtError as exc:
                if self.domain.isActive():  # not a race with the guest's own poweroff
                    raise libvirt_error(f"power off {self.uuid}", exc) from exc

    def wait_for(self, states: set[PowerState], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if self.power_state() in states:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL)

    def shutdown(self, timeout: float) -> bool:
        """Ask the guest (ACPI) to power off; True if it did within `timeout`."""
        if timeout <= 0:
            return False
        try:
            self.domain.shutdown()
        except libvirt.libvirtError:
            return False
        return self.wait_for({PowerState.SHUTOFF}, timeout)

    def pause(self) -> None:
        self._call("pause", self.domain.suspend)

    def unpause(self) -> None:
        self._call("unpause", self.domain.resume)

    def managed_save(self) -> None:
        self._call("suspend", self.domain.managedSave, 0)

    def undefine(self) -> None:
        flags = (
            libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        )
        try:
            self.domain.undefineFlags(flags)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise libvirt_error(f"undefine {self.uuid}", exc) from exc
