"""The demo image as a compute node boots it: through the libvirt driver, from its root disk
alone (no kernel or ramdisk image), grown to the flavor's 1 GB, on QEMU's user network. Its
banner reaches the console log, and a stop ends it gracefully: the guest powers off on the
ACPI button before the driver would force it. Needs root (the private libvirt daemon) and QEMU.
"""

import asyncio
import shutil
import time
import uuid

import pytest

from compute_node.drivers.base import ImageFile, InstanceSpec, PowerState
from compute_node.drivers.libvirt.driver import LibvirtConfig, LibvirtDriver
from compute_node.drivers.libvirt.private_daemon import LibvirtDaemon
from compute_node.image_cache import ImageCache, file_chunks, sha512_file
from tests.support import demo_guest

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(
        shutil.which(demo_guest.QEMU) is None, reason="qemu-system-x86_64 is not installed"
    ),
]

BOOT_TIMEOUT = 180


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    with LibvirtDaemon(tmp_path_factory.mktemp("libvirt"), private_network=True) as running:
        yield running


def wait_for_banner(driver, instance):
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        banner = demo_guest.parse_banner(driver.console_output(instance).text)
        if banner:
            return banner
        time.sleep(0.2)
    raise AssertionError(
        f"no banner after {BOOT_TIMEOUT} s: {driver.console_output(instance).text[-2000:]!r}"
    )


def test_boots_from_its_disk_alone_and_powers_off_when_stopped(daemon, tmp_path):
    asyncio.run(_scenario(daemon, tmp_path))


async def _scenario(daemon, tmp_path):
    image = demo_guest.demo_image()
    cache = ImageCache(str(tmp_path / "cache"))
    image_id = str(uuid.uuid4())
    await cache.fetch(
        image_id, file_chunks(str(image)), multihash=sha512_file(str(image)), disk_format="qcow2"
    )
    # A graceful stop's whole budget: a guest that ignored the button would be forced off
    # only after it, and the console would lack the kernel's "Power down".
    driver = await asyncio.to_thread(
        LibvirtDriver,
        LibvirtConfig(
            uri=daemon.uri,
            instances_path=str(tmp_path / "instances"),
            network="user",
            shutdown_timeout=BOOT_TIMEOUT,
        ),
        cache,
    )
    instance = str(uuid.uuid4())
    try:
        spec = InstanceSpec(
            uuid=instance,
            name="demo",
            vcpus=1,
            memory_mb=256,
            disk_gb=1,
            root_disk=ImageFile(image_id=image_id),
        )
        info = await asyncio.to_thread(driver.spawn, spec)
        assert info.power_state is PowerState.RUNNING
        banner = await asyncio.to_thread(wait_for_banner, driver, instance)
        assert banner.hostname == "stratus-demo"
        assert "eth0 10.0.2.15/24" in banner.addresses

        info = await asyncio.to_thread(driver.stop, instance)
        assert info.power_state is PowerState.SHUTOFF
        assert "reboot: Power down" in driver.console_output(instance).text
    finally:
        await asyncio.to_thread(driver.destroy, instance)
        driver.close()
