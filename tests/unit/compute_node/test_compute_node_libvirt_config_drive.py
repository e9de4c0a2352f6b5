"""The libvirt driver's config drive on libvirt's test driver: attached read-only beside the
disk, holding the guest's data and its NIC's MAC, and gone with the guest."""

import json
import shutil
import uuid
import xml.etree.ElementTree as ET

import pytest

from compute_node import config_drive
from compute_node.drivers.base import DriverError, GuestData, GuestKey, InstanceSpec
from compute_node.drivers.libvirt import guest as guest_module
from tests.support import config_drive as read_back

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="no qemu-img")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx5 alice@laptop"


def spec(guest=True):
    data = GuestData(
        hostname="web-1",
        project_id="p-1",
        availability_zone="zone-a",
        keys=(GuestKey("alice", "ssh", KEY),),
        user_data=b"#!/bin/sh\n",
    )
    return InstanceSpec(
        uuid=str(uuid.uuid4()),
        name="web",
        vcpus=1,
        memory_mb=256,
        disk_gb=1,
        guest=data if guest else None,
    )


def cdroms(driver, uuid_):
    devices = ET.fromstring(driver.host.conn.lookupByUUIDString(uuid_).XMLDesc()).find("devices")
    return [d for d in devices.findall("disk") if d.get("device") == "cdrom"]


def test_the_config_drive_is_attached_read_only_and_destroyed_with_the_guest(driver, tmp_path):
    s = spec()
    driver.spawn(s)
    iso = tmp_path / "instances" / s.uuid / "disk.config"
    [cdrom] = cdroms(driver, s.uuid)
    assert cdrom.find("source").get("file") == str(iso)
    assert cdrom.find("readonly") is not None
    files = read_back.read(iso)
    meta = json.loads(files["openstack/latest/meta_data.json"])
    assert (meta["uuid"], meta["hostname"], meta["public_keys"]) == (
        s.uuid,
        "web-1",
        {"alice": KEY},
    )
    assert files["openstack/latest/user_data"] == b"#!/bin/sh\n"
    domain = driver.host.conn.lookupByUUIDString(s.uuid).XMLDesc()
    [link] = json.loads(files["openstack/latest/network_data.json"])["links"]
    assert f"<mac address='{link['ethernet_mac_address']}'/>" in domain
    driver.destroy(s.uuid)
    assert not iso.exists()


def test_a_guest_without_guest_data_has_no_config_drive(driver, tmp_path):
    s = spec(guest=False)
    driver.spawn(s)
    assert cdroms(driver, s.uuid) == []
    assert not (tmp_path / "instances" / s.uuid / "disk.config").exists()


def test_a_guest_without_a_nic_gets_a_config_drive_without_links(make_driver, tmp_path):
    s = spec()
    make_driver(network="none").spawn(s)
    files = read_back.read(tmp_path / "instances" / s.uuid / "disk.config")
    assert json.loads(files["openstack/latest/network_data.json"])["links"] == []


def test_a_failed_start_removes_the_config_drive(driver, tmp_path, monkeypatch):
    s = spec()
    written = []
    real_write = config_drive.write

    def write(path, *args):
        real_write(path, *args)
        written.append(path)

    def refuse(self):
        raise DriverError("start failed")

    monkeypatch.setattr(config_drive, "write", write)
    monkeypatch.setattr(guest_module.Guest, "start", refuse)
    with pytest.raises(DriverError, match="start failed"):
        driver.spawn(s)
    assert written == [str(tmp_path / "instances" / s.uuid / "disk.config")]
    assert not (tmp_path / "instances" / s.uuid).exists()
    assert s.uuid not in driver.list_instances()


def test_a_config_drive_that_cannot_be_written_fails_the_spawn_cleanly(
    driver, tmp_path, monkeypatch
):
    s = spec()

    def full(path, *args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config_drive, "write", full)
    with pytest.raises(DriverError, match="No space left on device"):
        driver.spawn(s)
    assert s.uuid not in driver.list_instances()
    assert not (tmp_path / "instances" / s.uuid).exists()
