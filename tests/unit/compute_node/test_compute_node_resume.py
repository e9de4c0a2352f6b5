"""resume_guests_state_on_host_boot: guests recorded as running that a host restart left shut
off are started again; guests stopped on purpose stay stopped."""

import shutil
import uuid

import pytest

from compute_node.drivers.base import InstanceSpec, PowerState
from compute_node.resume import RunningGuests, resume_guests

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="no qemu-img")


def spawn(driver, name):
    return driver.spawn(
        InstanceSpec(uuid=str(uuid.uuid4()), name=name, vcpus=1, memory_mb=256, disk_gb=1)
    ).uuid


def states(driver):
    return {u: i.power_state for u, i in driver.list_instances().items()}


def test_guests_that_ran_are_started_again_and_stopped_ones_stay_stopped(driver, tmp_path):
    ran, also_ran, stopped, paused = (spawn(driver, n) for n in "abcd")
    driver.stop(stopped)
    driver.pause(paused)
    record = RunningGuests(tmp_path / "running-guests.json")
    record.record(driver.list_instances().values())
    assert record.load() == {ran, also_ran}
    # The host went down: every guest is still defined, shut off.
    for guest in (ran, also_ran, paused):
        driver.stop(guest, timeout=0)
    driver.start(also_ran)  # started by someone else meanwhile: left alone

    assert sorted(resume_guests(driver, record)) == [ran]
    assert states(driver) == {
        ran: PowerState.RUNNING,
        also_ran: PowerState.RUNNING,
        stopped: PowerState.SHUTOFF,
        paused: PowerState.SHUTOFF,
    }


def test_no_record_or_an_unreadable_one_starts_nothing(driver, tmp_path):
    guest = spawn(driver, "a")
    driver.stop(guest)
    record = RunningGuests(tmp_path / "running-guests.json")
    assert resume_guests(driver, record) == []
    record.path.write_text("{not json")
    assert resume_guests(driver, record) == []
    assert states(driver) == {guest: PowerState.SHUTOFF}
