"""The driver survives a restart of the libvirt daemon it talks to."""

import os
import uuid

import pytest

from compute_node.drivers.base import InstanceSpec, PowerState
from compute_node.drivers.libvirt.driver import LibvirtConfig, LibvirtDriver
from compute_node.drivers.libvirt.private_daemon import LibvirtDaemon, missing_tools

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or bool(missing_tools()),
    reason="needs root and libvirtd for a private libvirt daemon",
)


def test_driver_reconnects_after_the_daemon_restarts(tmp_path):
    daemon = LibvirtDaemon(tmp_path / "libvirt", private_network=True).start()
    driver = None
    try:
        uri = f"test+unix:///default?socket={daemon.socket}"
        driver = LibvirtDriver(LibvirtConfig(uri=uri, instances_path=str(tmp_path / "i")))
        first = driver.spawn(
            InstanceSpec(uuid=str(uuid.uuid4()), name="a", vcpus=1, memory_mb=64, disk_gb=1)
        )
        assert first.power_state is PowerState.RUNNING
        daemon.stop(shutdown_timeout=0)
        daemon = LibvirtDaemon(tmp_path / "libvirt", private_network=True).start()
        # A new daemon: the test driver's host starts empty, but the driver works again.
        assert first.uuid not in driver.list_instances()
        second = driver.spawn(
            InstanceSpec(uuid=str(uuid.uuid4()), name="b", vcpus=1, memory_mb=64, disk_gb=1)
        )
        assert second.uuid in driver.list_instances()
    finally:
        if driver is not None:
            driver.close()
        daemon.stop(shutdown_timeout=0)
