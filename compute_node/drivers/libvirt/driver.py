"""The libvirt implementation of ComputeDriver: qemu:// (KVM or TCG) and test:// URIs.

On libvirt's test driver nothing runs: it simulates a hypervisor. With a node file URI
(`test:///path/node.xml`) the simulation keeps its domains in that file, rewritten after
every change, so they outlive the agent (see simulation.py); `test:///default` forgets them
when the agent stops.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import libvirt

from compute_node import config_drive
from compute_node.drivers.base import (
    Capabilities,
    ComputeDriver,
    ConsoleOutput,
    ConsoleUnavailable,
    DriverError,
    EventSubscription,
    HostStats,
    ImageFile,
    InstanceAddress,
    InstanceExists,
    InstanceInfo,
    InstanceNotFound,
    InstanceSpec,
    InvalidSpec,
    InvalidState,
    PowerState,
    RebootKind,
)
from compute_node.drivers.libvirt import disk, simulation
from compute_node.drivers.libvirt import xml as domxml
from compute_node.drivers.libvirt.guest import Guest, libvirt_error
from compute_node.drivers.libvirt.host import Host, disk_usage_gb
from compute_node.image_cache import BOOT_FILE_FORMATS, ImageCache, ImageCacheError
from compute_node.phases import Phases
from stratus_common import faults

LOG = logging.getLogger(__name__)
GiB = 1024**3


@dataclass(frozen=True)
class _Resolved:
    path: str | None
    disk_format: str | None
    virtual_size: int = 0


@dataclass(frozen=True)
class LibvirtConfig:
    uri: str = "qemu:///system"
    instances_path: str = "/var/lib/stratus/instances"
    network: str = "user"  # user | none | bridge:<name>  (see xml.py)
    domain_type: str = "auto"  # auto | kvm | qemu (ignored on test://)
    shutdown_timeout: float = 60.0  # graceful stop before a hard power off
    # Where real guests' console sockets live (kept short: a UNIX socket's path has at most
    # 107 bytes); empty: beside nothing, guests get no VNC, SPICE or interactive serial.
    console_socket_dir: str = ""


P = ParamSpec("P")
R = TypeVar("R")


def _changes_domains(method: Callable[P, R]) -> Callable[P, R]:
    """Marks a method that may change domains: a simulated host saves them afterwards."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        self = args[0]
        assert isinstance(self, LibvirtDriver)
        try:
            return method(*args, **kwargs)
        finally:
            self._save_simulation()

    return wrapper


class LibvirtDriver(ComputeDriver):
    def __init__(self, config: LibvirtConfig, image_cache: ImageCache | None = None):
        self.config = config
        self.image_cache = image_cache
        self.host = Host(config.uri)
        self.domain_type = self.host.domain_type(config.domain_type)
        real = not self.host.facts.is_test
        # The test driver's host says i686; its guests are defined as x86_64 like real ones.
        self._guest_arch = self.host.facts.arch if real else "x86_64"
        self.capabilities = Capabilities(
            direct_kernel_boot=True,
            pause=True,
            suspend=True,
            soft_reboot=True,
            console_output=True,
            vnc_console=real,
            lifecycle_events=True,
            copy_on_write_disks=True,
            snapshot=True,
        )
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        kind, bridge = domxml.parse_network(config.network)
        self._network = bridge or kind  # what addresses say they are on
        self._link_type = "bridge" if bridge else "ethernet"  # as network_data.json says
        os.makedirs(config.instances_path, exist_ok=True)
        self._console_dir = config.console_socket_dir if real else ""
        if self._console_dir:
            os.makedirs(self._console_dir, mode=0o700, exist_ok=True)
        node_file = simulation.node_file(config.uri)
        self._simulation = simulation.SimulatedHostFile(node_file) if node_file else None
        LOG.info(
            "libvirt %s: %s %s, guests run as domain type %s",
            config.uri,
            self.host.facts.hypervisor_type,
            self.host.facts.hypervisor_version,
            self.domain_type,
        )

    # -- helpers -------------------------------------------------------------------------

    @contextmanager
    def _instance_lock(self, uuid: str) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault(uuid, threading.Lock())
        with lock:
            yield

    def _save_simulation(self) -> None:
        if self._simulation is not None:
            self._simulation.save(self.host.conn)

    def _instance_dir(self, uuid: str) -> str:
        return os.path.join(self.config.instances_path, uuid)

    def _info(self, guest: Guest) -> InstanceInfo:
        dom = guest.domain
        try:
            xml = dom.XMLDesc(0)
            _state, _max_mem, mem_kib, vcpus, _cpu_time = dom.info()
        except libvirt.libvirtError as exc:
            raise libvirt_error(f"instance {guest.uuid}", exc) from exc
        name = domxml.instance_name_from_xml(xml)
        ports = domxml.has_port_interfaces(xml)
        power = guest.power_state()
        addresses: tuple[InstanceAddress, ...] = ()
        # A port's addresses are the controller's (IPAM): reported by nobody here.
        running = power in (PowerState.RUNNING, PowerState.PAUSED)
        if running and self._network != "none" and not ports:
            addresses = guest.addresses(self._network)
        return InstanceInfo(
            uuid=guest.uuid,
            name=name or "",
            power_state=power,
            managed=name is not None,
            vcpus=vcpus,
            memory_mb=mem_kib // 1024,
            addresses=addresses,
        )

    def _resolve(self, image: ImageFile | None, uuid: str, acquired: list[str]) -> _Resolved:
        """Where an image file is; cached images get a reference held by `uuid`."""
        if image is None:
            return _Resolved(None, None)
        if image.image_id is None:
            if not image.path or not os.path.exists(image.path):
                raise InvalidSpec(f"image file {image.path!r} does not exist")
            return _Resolved(image.path, image.disk_format)
        if self.image_cache is None:
            raise InvalidSpec("this driver has no image cache to resolve image ids")
        try:
            cached = self.image_cache.acquire(image.image_id, uuid)
        except ImageCacheError as exc:
            raise InvalidSpec(str(exc)) from exc
        acquired.append(image.image_id)
        return _Resolved(cached.path, cached.disk_format, cached.virtual_size)

    def _root_disk(self, spec: InstanceSpec, directory: str, acquired: list[str]) -> str | None:
        base = self._resolve(spec.root_disk, spec.uuid, acquired)
        path = os.path.join(directory, "disk")
        if base.path is None:
            if spec.disk_gb <= 0:
                return None
            disk.create_blank(path, spec.disk_gb)
            return path
        if base.disk_format in BOOT_FILE_FORMATS or base.disk_format not in ("raw", "qcow2"):
            raise InvalidSpec(f"a {base.disk_format} image cannot be a root disk")
        if spec.disk_gb and base.virtual_size > spec.disk_gb * GiB:
            raise InvalidSpec(
                f"the image needs {base.virtual_size} bytes, the flavor's disk "
                f"holds {spec.disk_gb} GiB"
            )
        disk.create_overlay(path, base.path, base.disk_format, spec.disk_gb)
        return path

    # -- lifecycle -----------------------------------------------------------------------

    @_changes_domains
    def spawn(self, spec: InstanceSpec) -> InstanceInfo:
        with self._instance_lock(spec.uuid):
            try:
                self.host.conn.lookupByUUIDString(spec.uuid)
                raise InstanceExists(f"instance {spec.uuid} already exists")
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise libvirt_error(f"instance {spec.uuid}", exc) from exc
            directory = self._instance_dir(spec.uuid)
            acquired: list[str] = []
            defined: Guest | None = None
            phases = Phases()
            try:
                # A directory without a domain is what a crash mid-spawn leaves: start over.
                shutil.rmtree(directory, ignore_errors=True)
                os.makedirs(directory)
                with phases.timed("overlay"):
                    root_disk = self._root_disk(spec, directory, acquired)
                paths = domxml.DomainPaths(
                    root_disk=root_disk,
                    kernel=self._resolve(spec.kernel, spec.uuid, acquired).path,
                    ramdisk=self._resolve(spec.ramdisk, spec.uuid, acquired).path,
                    console_log=os.path.join(directory, "console.log"),
                    config_drive=os.path.join(directory, "disk.config") if spec.guest else None,
                    console_socket_prefix=self._console_prefix(spec.uuid),
                )
                xml = domxml.domain_xml(
                    spec,
                    paths,
                    domain_type=self.domain_type,
                    arch=self._guest_arch,
                    network=self.config.network,
                )
                try:
                    with phases.timed("define"):
                        defined = Guest(self.host.conn.defineXML(xml))
                except libvirt.libvirtError as exc:
                    raise DriverError(f"define {spec.uuid}: {exc.get_error_message()}") from exc
                faults.point("domain.defined")
                if paths.config_drive:  # written once defined: its NICs have their MACs
                    with phases.timed("config_drive"):
                        self._write_config_drive(paths.config_drive, spec, defined)
                with phases.timed("start"):
                    defined.start()
                faults.point("domain.started")
                LOG.info("spawned %s: %s", spec.uuid, phases.fields())
                return self._info(defined)
            except BaseException:
                self._cleanup_failed_spawn(spec.uuid, defined, directory, acquired)
                raise

    def _write_config_drive(self, path: str, spec: InstanceSpec, guest: Guest) -> None:
        try:
            macs = domxml.interface_macs(guest.domain.XMLDesc(0))
        except libvirt.libvirtError as exc:
            raise libvirt_error(f"instance {spec.uuid}", exc) from exc
        if spec.nics:
            nics = [config_drive.GuestNic(n.mac_address, "bridge", n.mtu) for n in spec.nics]
        else:
            nics = [config_drive.GuestNic(mac=mac, link_type=self._link_type) for mac in macs]
        try:
            config_drive.write(path, spec, nics)
        except OSError as exc:
            raise DriverError(f"config drive of {spec.uuid}: {exc.strerror or exc}") from exc

    def _cleanup_failed_spawn(
        self, uuid: str, guest: Guest | None, directory: str, acquired: list[str]
    ) -> None:
        try:
            if guest is not None:
                guest.power_off()
                guest.undefine()
        except DriverError:
            LOG.exception("cleaning up the partial guest %s", uuid)
        shutil.rmtree(directory, ignore_errors=True)
        for image_id in acquired:
            self.image_cache.release(image_id, uuid)  # type: ignore[union-attr]  # acquired: cached

    @_changes_domains
    def destroy(self, uuid: str) -> None:
        with self._instance_lock(uuid):
            self._remove_guest(uuid)
            shutil.rmtree(self._aside(uuid), ignore_errors=True)  # a resize's old guest

    def _remove_guest(self, uuid: str) -> None:
        """The guest, its directory and its image references, whatever exists of them."""
        try:
            guest = Guest.lookup(self.host.conn, uuid)
        except InstanceNotFound:
            guest = None
        if guest is not None:
            guest.power_off()
            faults.point("domain.powered_off")
            guest.undefine()
        shutil.rmtree(self._instance_dir(uuid), ignore_errors=True)
        if self.image_cache is not None:
            self.image_cache.release_instance(uuid)

    # -- power actions -------------------------------------------------------------------

    def _guest(self, uuid: str) -> Guest:
        return Guest.lookup(self.host.conn, uuid)

    @_changes_domains
    def stop(self, uuid: str, timeout: float | None = None) -> InstanceInfo:
        timeout = self.config.shutdown_timeout if timeout is None else timeout
        with self._instance_lock(uuid):
            guest = self._guest(uuid)
            running = guest.power_state() not in (PowerState.SHUTOFF, PowerState.SUSPENDED)
            if running and not guest.shutdown(timeout):
                guest.power_off()
            return self._info(guest)

    @_changes_domains
    def start(self, uuid: str) -> InstanceInfo:
        with self._instance_lock(uuid):
            guest = self._guest(uuid)
            state = guest.power_state()
            if state is PowerState.PAUSED:
                raise InvalidState(f"instance {uuid} is paused: unpause it")
            if state in (PowerState.SHUTOFF, PowerState.SUSPENDED, PowerState.CRASHED):
                guest.start()
            return self._info(guest)

    @_changes_domains
    def reboot(self, uuid: str, kind: RebootKind) -> InstanceInfo:
        with self._instance_lock(uuid):
            guest = self._guest(uuid)
            if guest.power_state() is not PowerState.RUNNING:
                raise InvalidState(f"instance {uuid} is not running")
            clean = kind is RebootKind.SOFT and guest.shutdown(self.config.shutdown_timeout)
            if not clean:
                guest.power_off()
            guest.start()
            return self._info(guest)

    @_changes_domains
    def pause(self, uuid: str) -> InstanceInfo:
        with self._instance_lock(uuid):
            guest = self._guest(uuid)
            state = guest.power_state()
            if state is PowerState.RUNNING:
                guest.pause()
            elif state is not PowerState.PAUSED:
                raise InvalidState(f"instance {uuid} is not running")
            return self._info(guest)

    @_changes_domains
    def unpause(self, uuid: str) -> InstanceInfo:
        with self._instance_lock(uuid):
            guest = self._guest(uuid)
            state = guest.power_state()
            if state is PowerState.PAUSED:
                guest.unpause()
            elif state is not PowerState.RUNNING:
                raise InvalidState(f"instance {uuid} is not paused")
            return self._info(guest)

    @_changes_domains
    def suspend(self, uuid: str) -> InstanceInfo:
        with self._instance_lock(uuid):
            guest = self._guest(uuid)
            state = guest.power_state()
            if state in (PowerState.RUNNING, PowerState.PAUSED):
                guest.managed_save()
            elif state is not PowerState.SUSPENDED:
                raise InvalidState(f"instance {uuid} is not running")
            return self._info(guest)

    @_changes_domains
    def resume(self, uuid: str) -> InstanceInfo:
        with self._instance_lock(uuid):
            guest = self._guest(uuid)
            state = guest.power_state()
            if state is PowerState.SUSPENDED:
                guest.start()
            elif state is not PowerState.RUNNING:
                raise InvalidState(f"instance {uuid} is not suspended")
            return self._info(guest)

    # -- disks ---------------------------------------------------------------------------

    def snapshot(self, uuid: str, target: str) -> None:
        with self._instance_lock(uuid):
            guest = self._guest(uuid)
            source = os.path.join(self._instance_dir(uuid), "disk")
            if not os.path.exists(source):
                raise InvalidState(f"instance {uuid} has no root disk to snapshot")
            # Paused, the guest writes nothing while its disk is read: the copy is what a
            # sudden power cut would leave (what the guest has synced is in it).
            pause = guest.power_state() is PowerState.RUNNING
            if pause:
                guest.pause()
            try:
                faults.point("snapshot.paused")
                disk.flatten(source, target)
            finally:
                if pause:
                    guest.unpause()

    def _aside(self, uuid: str) -> str:
        return self._instance_dir(uuid) + "_resize"

    @_changes_domains
    def resize_out(self, uuid: str, target: str) -> None:
        with self._instance_lock(uuid):
            guest = self._guest(uuid)
            source = os.path.join(self._instance_dir(uuid), "disk")
            if not os.path.exists(source):
                raise InvalidState(f"instance {uuid} has no root disk to move")
            running = guest.power_state() is not PowerState.SHUTOFF
            if running and not guest.shutdown(self.config.shutdown_timeout):
                guest.power_off()
            disk.flatten(source, target)
            faults.point("resize.disk_copied")

    @_changes_domains
    def set_aside(self, uuid: str) -> None:
        with self._instance_lock(uuid):
            guest = self._guest(uuid)
            directory, aside = self._instance_dir(uuid), self._aside(uuid)
            try:
                xml = guest.domain.XMLDesc(0)
            except libvirt.libvirtError as exc:
                raise libvirt_error(f"instance {uuid}", exc) from exc
            shutil.rmtree(aside, ignore_errors=True)
            os.rename(directory, aside)
            with open(os.path.join(aside, "domain.xml"), "w") as f:
                f.write(xml)
            held = self._held_images(uuid)
            with open(os.path.join(aside, "images.json"), "w") as f:
                json.dump(held, f)
            guest.undefine()

    def confirm_resize(self, uuid: str) -> None:
        with self._instance_lock(uuid):
            aside = self._aside(uuid)
            held = self._held_aside(aside)
            shutil.rmtree(aside, ignore_errors=True)
            defined = os.path.isdir(self._instance_dir(uuid))
            if self.image_cache is not None and not defined:  # the guest lives elsewhere now
                for image_id in held:
                    self.image_cache.release(image_id, uuid)

    @_changes_domains
    def revert_resize(self, uuid: str, start: bool) -> InstanceInfo:
        with self._instance_lock(uuid):
            directory, aside = self._instance_dir(uuid), self._aside(uuid)
            if not os.path.isdir(aside):
                raise InvalidState(f"instance {uuid} has no guest set aside to go back to")
            self._remove_guest(uuid)  # the resized guest, when it was made on this host
            os.rename(aside, directory)
            with open(os.path.join(directory, "domain.xml")) as f:
                xml = f.read()
            if self.image_cache is not None:
                for image_id in self._held_aside(directory):
                    self.image_cache.acquire(image_id, uuid)
            try:
                guest = Guest(self.host.conn.defineXML(xml))
            except libvirt.libvirtError as exc:
                raise DriverError(f"define {uuid}: {exc.get_error_message()}") from exc
            if start:
                guest.start()
            return self._info(guest)

    def _held_images(self, uuid: str) -> list[str]:
        cache = self.image_cache
        if cache is None:
            return []
        return [i for i in cache.image_ids() if uuid in cache.references(i)]

    @staticmethod
    def _held_aside(directory: str) -> list[str]:
        try:
            with open(os.path.join(directory, "images.json")) as f:
                return list(json.load(f))
        except FileNotFoundError:
            return []

    # -- inventory and stats -------------------------------------------------------------

    def get_info(self, uuid: str) -> InstanceInfo:
        return self._info(self._guest(uuid))

    def list_instances(self) -> dict[str, InstanceInfo]:
        found = {}
        for dom in self.host.conn.listAllDomains(0):
            try:
                info = self._info(Guest(dom))
            except InstanceNotFound:  # undefined while we looked
                continue
            found[info.uuid] = info
        return found

    def host_stats(self) -> HostStats:
        facts = self.host.facts
        vcpus_used = memory_used = running = 0
        for dom in self.host.conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
            try:
                _state, _max_mem, mem_kib, vcpus, _cpu = dom.info()
            except libvirt.libvirtError:
                continue
            vcpus_used += vcpus
            memory_used += mem_kib // 1024
            running += 1
        disk_total, disk_free = disk_usage_gb(self.config.instances_path)
        return HostStats(
            hostname=facts.hostname,
            hypervisor_type=facts.hypervisor_type,
            hypervisor_version=facts.hypervisor_version,
            domain_type=self.domain_type,
            arch=facts.arch,
            cpu_model=facts.cpu_model,
            vcpus=facts.vcpus,
            vcpus_used=vcpus_used,
            memory_mb=facts.memory_mb,
            memory_mb_used=memory_used,
            free_memory_mb=self.host.free_memory_mb(),
            disk_gb=disk_total,
            disk_gb_free=disk_free,
            running_instances=running,
        )

    def console_output(self, uuid: str, max_bytes: int = 65536) -> ConsoleOutput:
        self._guest(uuid)  # InstanceNotFound for a guest that is not here
        path = os.path.join(self._instance_dir(uuid), "console.log")
        try:
            with open(path, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - max_bytes))
                data = f.read(max_bytes)
        except FileNotFoundError:
            return ConsoleOutput(text="", truncated=False)
        return ConsoleOutput(
            text=data.decode("utf-8", errors="replace"), truncated=size > max_bytes
        )

    def _console_prefix(self, uuid: str) -> str:
        return os.path.join(self._console_dir, uuid) if self._console_dir else ""

    def console_socket(self, uuid: str, kind: str) -> str:
        guest = self._guest(uuid)  # InstanceNotFound for a guest that is not here
        if kind not in domxml.CONSOLE_SUFFIXES:
            raise ConsoleUnavailable(f"no {kind} console")
        path = domxml.console_socket(self._console_prefix(uuid), kind) if self._console_dir else ""
        if not path or not guest.domain.isActive() or not os.path.exists(path):
            raise ConsoleUnavailable(f"instance {uuid} has no {kind} console now")
        return path

    # -- events --------------------------------------------------------------------------

    def subscribe(self, subscription: EventSubscription) -> None:
        self.host.subscribe(subscription)

    def unsubscribe(self, subscription: EventSubscription) -> None:
        self.host.unsubscribe(subscription)

    def close(self) -> None:
        self._save_simulation()
        self.host.close()
