"""The config drive as cloud-init itself reads it: Debian's cloud-init package, unpacked (not
installed), reads the volume we write through its ConfigDrive datasource.

A guest mounts the volume; a test cannot, so the volume's files are unpacked by their Rock
Ridge names (what Linux shows) into the datasource's seed directory, which cloud-init reads
with the same `read_config_drive` it runs on a mounted drive."""

import importlib
import logging
import sys
import uuid

import pytest

from compute_node import config_drive
from compute_node.drivers.base import GuestData, GuestKey, InstanceSpec
from tests.support import config_drive as read_back

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx5 alice@laptop"
MAC = "52:54:00:12:34:56"
USER_DATA = b"#!/bin/sh\necho 'user data ran' > /run/marker\n"


@pytest.fixture(scope="module")
def cloudinit():
    try:
        path = str(read_back.cloud_init_path())
    except read_back.PackageUnavailable as exc:
        pytest.skip(f"Debian's cloud-init package could not be downloaded: {exc}")
    sys.path.insert(0, path)
    # cloud-init's import resets and flushes the root logger's handlers: give it none, so a
    # handler an earlier test left behind (on a closed stream) cannot break it
    root_handlers = logging.root.handlers[:]
    logging.root.handlers.clear()
    try:
        modules = (
            importlib.import_module("cloudinit.sources.DataSourceConfigDrive"),
            importlib.import_module("cloudinit.sources.helpers.openstack"),
            importlib.import_module("cloudinit.helpers"),
        )
    finally:
        logging.root.handlers[:] = root_handlers
    try:
        yield modules
    finally:
        sys.path.remove(path)


@pytest.fixture
def instance():
    return InstanceSpec(
        uuid=str(uuid.uuid4()),
        name="web server",
        vcpus=1,
        memory_mb=64,
        metadata={"role": "web"},
        guest=GuestData(
            hostname="web-1",
            project_id="project-1",
            availability_zone="zone-a",
            keys=(GuestKey(name="alice", type="ssh", public_key=KEY),),
            user_data=USER_DATA,
        ),
    )


def seed(tmp_path, cloudinit, instance):
    """cloud-init's paths, with our volume unpacked where the datasource looks first."""
    _datasource, _openstack, helpers = cloudinit
    iso = tmp_path / "disk.config"
    config_drive.write(str(iso), instance, [config_drive.GuestNic(MAC, "ethernet")])
    paths = helpers.Paths({"cloud_dir": str(tmp_path / "cloud"), "run_dir": str(tmp_path / "run")})
    read_back.extract(iso, tmp_path / "cloud" / "seed" / "config_drive")
    return paths


def test_cloud_init_reads_the_newest_version_it_knows(tmp_path, cloudinit, instance):
    datasource, openstack, _helpers = cloudinit
    paths = seed(tmp_path, cloudinit, instance)
    drive = f"{paths.seed_dir}/config_drive"
    reader = openstack.ConfigDriveReader(drive)
    assert reader._find_working_version() == openstack.OS_VERSIONS[-1]
    assert openstack.OS_VERSIONS == config_drive.VERSIONS
    found = datasource.read_config_drive(drive)
    assert found["version"] == 2
    assert found["metadata"]["instance-id"] == instance.uuid
    assert found["metadata"]["project_id"] == "project-1"
    assert found["userdata"] == USER_DATA
    assert found["vendordata"] == {} and found["vendordata2"] == {}
    assert found["files"] == {}


def test_the_config_drive_datasource_sees_the_guest(tmp_path, cloudinit, instance):
    datasource, _openstack, _helpers = cloudinit
    ds = datasource.DataSourceConfigDrive({}, None, seed(tmp_path, cloudinit, instance))
    assert ds.get_data() is True
    assert ds.platform == "openstack"
    assert ds.subplatform.startswith("seed-dir")
    assert ds.get_instance_id() == instance.uuid
    assert ds.get_hostname().hostname == "web-1"
    assert ds.availability_zone == "zone-a"
    assert ds.get_public_ssh_keys() == [KEY]
    assert ds.get_userdata_raw() == USER_DATA
    assert ds.metadata["meta"] == {"role": "web"}
    assert len(ds.metadata["random_seed"]) == config_drive.RANDOM_SEED_BYTES
    ds.known_macs = {MAC: "eth0"}  # what cloud-init finds in /sys on the guest
    assert ds.network_config == {
        "version": 1,
        "config": [
            {"type": "physical", "name": "eth0", "mac_address": MAC, "subnets": [{"type": "dhcp4"}]}
        ],
    }
