"""The config drive volume: label, OpenStack's layout in every naming scheme, and contents."""

import base64
import json
import uuid

import pytest

from compute_node import config_drive
from compute_node.drivers.base import GuestData, GuestKey, InstanceSpec
from tests.support import config_drive as read_back

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx5 alice@laptop"
MAC = "52:54:00:AB:cd:01"


def spec(**guest):
    values = dict(
        hostname="web-1",
        project_id="p-1",
        availability_zone="zone-a",
        keys=(GuestKey(name="alice", type="ssh", public_key=KEY),),
        user_data=b"#!/bin/sh\necho hello\n",
    )
    values.update(guest)
    return InstanceSpec(
        uuid=str(uuid.uuid4()),
        name="web 1",
        vcpus=1,
        memory_mb=64,
        metadata={"role": "web"},
        guest=GuestData(**values),
    )


ETHERNET = (config_drive.GuestNic(MAC, "ethernet"),)


def written(tmp_path, instance, nics=ETHERNET):
    path = tmp_path / "disk.config"
    config_drive.write(str(path), instance, list(nics))
    return path


def layout(user_data=True):
    expected = set()
    for version in (*config_drive.VERSIONS, "latest"):
        names = {"meta_data.json"} | ({"user_data"} if user_data else set())
        if version >= "2013-10-17":
            names.add("vendor_data.json")
        if version >= "2015-10-15":
            names.add("network_data.json")
        if version >= "2016-10-06":
            names.add("vendor_data2.json")
        expected |= {f"openstack/{version}/{name}" for name in names}
    return expected


def test_the_volume_is_labelled_config_2_and_lays_out_every_version(tmp_path):
    path = written(tmp_path, spec())
    assert read_back.labels(path) == ("config-2", "config-2")
    assert "openstack/latest/network_data.json" in layout()
    assert "openstack/2012-08-10/network_data.json" not in layout()
    for naming in read_back.NAMING:  # Rock Ridge, Joliet and ISO 9660 agree on the names
        assert set(read_back.read(path, naming)) == layout(), naming


def test_meta_data_says_who_the_guest_is(tmp_path):
    instance = spec()
    files = read_back.read(written(tmp_path, instance))
    meta = json.loads(files["openstack/latest/meta_data.json"])
    seed = base64.b64decode(meta.pop("random_seed"))
    assert len(seed) == config_drive.RANDOM_SEED_BYTES
    assert meta == {
        "uuid": instance.uuid,
        "name": "web 1",
        "hostname": "web-1",
        "project_id": "p-1",
        "availability_zone": "zone-a",
        "launch_index": 0,
        "public_keys": {"alice": KEY},
        "keys": [{"name": "alice", "type": "ssh", "data": KEY}],
        "meta": {"role": "web"},
    }
    for version in config_drive.VERSIONS:  # the same answer whichever version is read
        assert (
            files[f"openstack/{version}/meta_data.json"] == files["openstack/latest/meta_data.json"]
        )


def test_user_data_is_passed_as_given_and_absent_when_empty(tmp_path):
    binary = bytes(range(256)) * 3
    files = read_back.read(written(tmp_path, spec(user_data=binary)))
    assert files["openstack/latest/user_data"] == binary
    empty = tmp_path / "empty"
    empty.mkdir()
    assert set(read_back.read(written(empty, spec(user_data=b"")))) == layout(user_data=False)


def test_network_data_names_each_nic_by_its_mac_with_dhcp(tmp_path):
    nics = [
        config_drive.GuestNic(MAC, "ethernet"),
        config_drive.GuestNic("52:54:00:00:00:02", "bridge"),
    ]
    files = read_back.read(written(tmp_path, spec(), nics))
    network = json.loads(files["openstack/latest/network_data.json"])
    assert network["links"] == [
        {"id": "interface0", "type": "ethernet", "ethernet_mac_address": MAC.lower()},
        {"id": "interface1", "type": "bridge", "ethernet_mac_address": "52:54:00:00:00:02"},
    ]
    assert network["networks"] == [
        {"id": "network0", "type": "ipv4_dhcp", "link": "interface0"},
        {"id": "network1", "type": "ipv4_dhcp", "link": "interface1"},
    ]
    assert network["services"] == []
    assert json.loads(files["openstack/latest/vendor_data.json"]) == {}
    assert json.loads(files["openstack/latest/vendor_data2.json"]) == {}


def test_a_guest_without_nics_gets_empty_network_data(tmp_path):
    files = read_back.read(written(tmp_path, spec(keys=()), nics=()))
    assert json.loads(files["openstack/latest/network_data.json"]) == {
        "links": [],
        "networks": [],
        "services": [],
    }
    meta = json.loads(files["openstack/latest/meta_data.json"])
    assert (meta["public_keys"], meta["keys"]) == ({}, [])


def test_writing_again_replaces_the_volume_whole(tmp_path):
    instance = spec()
    written(tmp_path, instance)
    path = written(tmp_path, spec(user_data=b"second"))
    assert read_back.read(path)["openstack/latest/user_data"] == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["disk.config"]


def test_an_instance_without_guest_data_has_no_config_drive(tmp_path):
    bare = InstanceSpec(uuid=str(uuid.uuid4()), name="vm", vcpus=1, memory_mb=64)
    with pytest.raises(ValueError, match="has no guest data"):
        config_drive.write(str(tmp_path / "disk.config"), bare, [])
    assert not (tmp_path / "disk.config").exists()
