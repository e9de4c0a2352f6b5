"""The test driver's simulated host keeps its domains in its node file: a driver opened
again on the same file (the next agent) finds every guest, in the state it was left in."""

import shutil
import uuid

import pytest

from compute_node.drivers.base import InstanceNotFound, InstanceSpec, PowerState
from compute_node.drivers.libvirt.driver import LibvirtConfig, LibvirtDriver
from compute_node.drivers.libvirt.simulation import node_file

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="no qemu-img")


def spec(name):
    return InstanceSpec(uuid=str(uuid.uuid4()), name=name, vcpus=1, memory_mb=256, disk_gb=1)


def open_driver(uri, tmp_path):
    return LibvirtDriver(
        LibvirtConfig(uri=uri, instances_path=str(tmp_path / "instances"), shutdown_timeout=1)
    )


def test_a_node_file_keeps_domains_and_their_states_across_drivers(node_uri, tmp_path):
    uri = node_uri(tmp_path, vcpus=6, memory_mb=8192)
    first = open_driver(uri, tmp_path)
    running, stopped, paused, suspended, gone = (spec(n) for n in "abcde")
    for s in (running, stopped, paused, suspended, gone):
        first.spawn(s)
    first.stop(stopped.uuid)
    first.pause(paused.uuid)
    first.suspend(suspended.uuid)
    first.destroy(gone.uuid)
    # Saved after each change, before any close: an agent killed here loses nothing.
    second = open_driver(uri, tmp_path)
    first.close()  # one driver per host from here on, as one agent per node
    try:
        states = {u: i.power_state for u, i in second.list_instances().items()}
        assert states == {
            running.uuid: PowerState.RUNNING,
            stopped.uuid: PowerState.SHUTOFF,
            paused.uuid: PowerState.PAUSED,
            suspended.uuid: PowerState.SUSPENDED,
        }
        assert second.get_info(running.uuid).name == "a"
        assert second.host_stats().vcpus == 6  # the simulated host's size is kept
        assert second.resume(suspended.uuid).power_state is PowerState.RUNNING
        with pytest.raises(InstanceNotFound):
            second.get_info(gone.uuid)
    finally:
        second.close()
    third = open_driver(uri, tmp_path)
    try:
        assert third.get_info(suspended.uuid).power_state is PowerState.RUNNING
    finally:
        third.close()


def test_test_default_and_daemon_uris_have_no_node_file(tmp_path):
    assert node_file("test:///default") is None
    assert node_file("test+unix:///default?socket=/x") is None
    assert node_file("qemu:///system") is None
    assert node_file(f"test://{tmp_path}/node.xml") == tmp_path / "node.xml"
