"""A real guest under QEMU through the libvirt driver: boot, console marker, stop, start,
destroy; a guest reading its config drive. Needs root (for the private libvirt daemon) and
QEMU; skipped only without QEMU."""

import asyncio
import dataclasses
import json
import shutil
import time
import uuid

import pytest

from compute_node.drivers.base import (
    EventKind,
    EventSubscription,
    GuestData,
    GuestKey,
    ImageFile,
    InstanceSpec,
    PowerState,
)
from compute_node.drivers.libvirt.driver import LibvirtConfig, LibvirtDriver
from compute_node.drivers.libvirt.private_daemon import LibvirtDaemon
from compute_node.image_cache import ImageCache, file_chunks, sha512_file
from tests.support import config_drive as read_back
from tests.support import guest_image

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(
        shutil.which("qemu-system-x86_64") is None, reason="qemu-system-x86_64 is not installed"
    ),
]

BOOT_TIMEOUT = 180


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    with LibvirtDaemon(tmp_path_factory.mktemp("libvirt"), private_network=True) as running:
        yield running


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    return guest_image.build(tmp_path_factory.mktemp("guest"))


def wait_for_console(driver, uuid_, text, timeout=BOOT_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in driver.console_output(uuid_).text:
            return
        time.sleep(0.2)
    raise AssertionError(
        f"{text!r} not on the console after {timeout} s: "
        f"{driver.console_output(uuid_).text[-2000:]!r}"
    )


async def cache_guest_files(cache, image):
    ids = {}
    for role, path, fmt in [
        ("kernel", image.kernel, "aki"),
        ("ramdisk", image.initrd, "ari"),
        ("disk", image.disk, "qcow2"),
    ]:
        image_id = str(uuid.uuid4())
        await cache.fetch(
            image_id, file_chunks(str(path)), multihash=sha512_file(str(path)), disk_format=fmt
        )
        ids[role] = image_id
    return ids


def test_real_guest_boots_prints_marker_stops_starts_and_is_destroyed(daemon, image, tmp_path):
    asyncio.run(_scenario(daemon, image, tmp_path))


async def _scenario(daemon, image, tmp_path):
    cache = ImageCache(str(tmp_path / "cache"))
    ids = await cache_guest_files(cache, image)
    driver = await asyncio.to_thread(
        LibvirtDriver,
        LibvirtConfig(
            uri=daemon.uri,
            instances_path=str(tmp_path / "instances"),
            network="user",
            shutdown_timeout=2,
        ),
        cache,
    )
    events = EventSubscription(asyncio.get_running_loop())
    driver.subscribe(events)
    try:
        stats = driver.host_stats()
        assert stats.hypervisor_type == "QEMU"
        assert stats.domain_type in ("kvm", "qemu")
        assert stats.vcpus >= 1 and stats.memory_mb > 0

        instance = str(uuid.uuid4())
        spec = InstanceSpec(
            uuid=instance,
            name="tiny",
            vcpus=1,
            memory_mb=192,
            disk_gb=1,
            root_disk=ImageFile(image_id=ids["disk"]),
            kernel=ImageFile(image_id=ids["kernel"]),
            ramdisk=ImageFile(image_id=ids["ramdisk"]),
            cmdline=image.cmdline,
        )
        started = time.monotonic()
        info = await asyncio.to_thread(driver.spawn, spec)
        assert info.power_state is PowerState.RUNNING
        await asyncio.to_thread(wait_for_console, driver, instance, image.marker)
        print(
            f"\nguest boot to marker: {time.monotonic() - started:.1f} s "
            f"(domain type {stats.domain_type})"
        )
        assert all(instance in cache.references(i) for i in ids.values())

        info = await asyncio.to_thread(driver.stop, instance)
        assert info.power_state is PowerState.SHUTOFF
        assert driver.list_instances()[instance].power_state is PowerState.SHUTOFF

        info = await asyncio.to_thread(driver.start, instance)
        assert info.power_state is PowerState.RUNNING
        await asyncio.to_thread(wait_for_console, driver, instance, image.marker)

        await asyncio.to_thread(driver.destroy, instance)
        assert instance not in driver.list_instances()
        assert not (tmp_path / "instances" / instance).exists()
        assert all(not cache.references(i) for i in ids.values())

        seen = []
        deadline = time.monotonic() + 10
        while EventKind.UNDEFINED not in seen and time.monotonic() < deadline:
            try:
                event = await asyncio.wait_for(events.get(), 1)
            except TimeoutError:
                continue
            if event.uuid == instance:
                seen.append(event.kind)
        assert seen.count(EventKind.STARTED) == 2
        assert EventKind.STOPPED in seen and seen[-1] is EventKind.UNDEFINED
    finally:
        driver.unsubscribe(events)
        driver.close()


def test_a_real_guest_reads_its_config_drive(daemon, image, tmp_path):
    """Linux finds the read-only CD-ROM by its label and reads the Rock Ridge names."""
    asyncio.run(_read_config_drive(daemon, image, tmp_path))


async def _read_config_drive(daemon, image, tmp_path):
    try:
        initrd = read_back.reader_initramfs(tmp_path, guest_image.kernel())
    except read_back.PackageUnavailable as exc:
        pytest.skip(f"the kernel's CD-ROM modules could not be downloaded: {exc}")
    cache = ImageCache(str(tmp_path / "cache"))
    ids = await cache_guest_files(cache, dataclasses.replace(image, initrd=initrd))
    driver = await asyncio.to_thread(
        LibvirtDriver,
        LibvirtConfig(
            uri=daemon.uri,
            instances_path=str(tmp_path / "instances"),
            network="user",
            shutdown_timeout=2,
        ),
        cache,
    )
    instance = str(uuid.uuid4())
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx5 alice@laptop"
    try:
        await asyncio.to_thread(
            driver.spawn,
            InstanceSpec(
                uuid=instance,
                name="reader",
                vcpus=1,
                memory_mb=192,
                disk_gb=1,
                root_disk=ImageFile(image_id=ids["disk"]),
                kernel=ImageFile(image_id=ids["kernel"]),
                ramdisk=ImageFile(image_id=ids["ramdisk"]),
                cmdline=image.cmdline,
                metadata={"role": "web"},
                guest=GuestData(
                    hostname="reader-1",
                    keys=(GuestKey("alice", "ssh", key),),
                    user_data=b"#!/bin/sh\necho from user data\n",
                ),
            ),
        )
        await asyncio.to_thread(wait_for_console, driver, instance, f"{read_back.READ_MARKER} end")
        files = read_back.printed(driver.console_output(instance).text)
        meta = json.loads(files["meta_data.json"])
        assert (meta["uuid"], meta["hostname"], meta["public_keys"], meta["meta"]) == (
            instance,
            "reader-1",
            {"alice": key},
            {"role": "web"},
        )
        [link] = json.loads(files["network_data.json"])["links"]
        domain = driver.host.conn.lookupByUUIDString(instance).XMLDesc()
        assert f"<mac address='{link['ethernet_mac_address']}'/>" in domain
        assert files["user_data"].strip() == "#!/bin/sh\necho from user data"
    finally:
        await asyncio.to_thread(driver.destroy, instance)
        driver.close()
    assert not (tmp_path / "instances" / instance).exists()
