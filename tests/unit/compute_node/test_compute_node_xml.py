import uuid
import xml.etree.ElementTree as ET

import pytest

from compute_node.drivers.base import InstanceSpec, InvalidSpec
from compute_node.drivers.libvirt.xml import (
    DomainPaths,
    domain_name,
    domain_xml,
    instance_name_from_xml,
    interface_macs,
)

UUID = str(uuid.uuid4())


def spec(**overrides):
    values = dict(uuid=UUID, name="web-1", vcpus=2, memory_mb=512, disk_gb=1)
    values.update(overrides)
    return InstanceSpec(**values)


def paths(**overrides):
    values = dict(root_disk="/i/disk", kernel=None, ramdisk=None, console_log="/i/console.log")
    values.update(overrides)
    return DomainPaths(**values)


def parse(text):
    return ET.fromstring(text)


def test_resources_identity_and_features():
    root = parse(domain_xml(spec(), paths(), domain_type="qemu"))
    assert root.get("type") == "qemu"
    assert root.findtext("name") == domain_name(UUID) == f"instance-{UUID}"
    assert root.findtext("uuid") == UUID
    assert root.findtext("vcpu") == "2"
    assert root.find("memory").text == "512" and root.find("memory").get("unit") == "MiB"
    assert root.find("features/acpi") is not None
    assert root.find("os/boot").get("dev") == "hd"
    assert root.find("os/kernel") is None


def test_disk_is_a_virtio_qcow2_overlay():
    disk = parse(domain_xml(spec(), paths(), domain_type="kvm")).find("devices/disk")
    assert disk.find("driver").get("type") == "qcow2"
    assert disk.find("source").get("file") == "/i/disk"
    assert disk.find("target").get("bus") == "virtio"


def test_serial_console_goes_to_a_file_and_vnc_listens_on_localhost():
    devices = parse(domain_xml(spec(), paths(), domain_type="qemu")).find("devices")
    assert devices.find("serial").get("type") == "file"
    assert devices.find("serial/source").get("path") == "/i/console.log"
    graphics = devices.find("graphics")
    assert graphics.get("type") == "vnc" and graphics.get("autoport") == "yes"
    assert graphics.find("listen").get("address") == "127.0.0.1"


def test_the_config_drive_is_a_read_only_ide_cdrom_and_only_when_given():
    devices = parse(
        domain_xml(spec(), paths(config_drive="/i/disk.config"), domain_type="qemu")
    ).find("devices")
    (cdrom,) = [d for d in devices.findall("disk") if d.get("device") == "cdrom"]
    assert cdrom.get("type") == "file"
    assert cdrom.find("driver").get("type") == "raw"
    assert cdrom.find("source").get("file") == "/i/disk.config"
    assert cdrom.find("target").get("bus") == "ide"
    assert cdrom.find("readonly") is not None
    bare = parse(domain_xml(spec(), paths(), domain_type="qemu")).find("devices")
    assert [d.get("device") for d in bare.findall("disk")] == ["disk"]


def test_interface_macs_in_device_order():
    text = (
        "<domain><devices><interface type='user'><mac address='52:54:00:00:00:01'/>"
        "</interface><disk/><interface type='bridge'><mac address='52:54:00:00:00:02'/>"
        "</interface></devices></domain>"
    )
    assert interface_macs(text) == ["52:54:00:00:00:01", "52:54:00:00:00:02"]
    assert interface_macs(domain_xml(spec(), paths(), domain_type="qemu", network="none")) == []


@pytest.mark.parametrize(
    "network,expected", [("user", "user"), ("bridge:br0", "bridge"), ("none", None)]
)
def test_network_modes(network, expected):
    iface = parse(domain_xml(spec(), paths(), domain_type="qemu", network=network)).find(
        "devices/interface"
    )
    if expected is None:
        assert iface is None
        return
    assert iface.get("type") == expected
    assert iface.find("model").get("type") == "virtio"
    if expected == "bridge":
        assert iface.find("source").get("bridge") == "br0"


def test_unknown_network_mode_is_refused():
    with pytest.raises(InvalidSpec):
        domain_xml(spec(), paths(), domain_type="qemu", network="bridge:")


def test_direct_kernel_boot():
    root = parse(
        domain_xml(
            spec(cmdline="console=ttyS0"), paths(kernel="/c/k", ramdisk="/c/r"), domain_type="qemu"
        )
    )
    assert root.findtext("os/kernel") == "/c/k"
    assert root.findtext("os/initrd") == "/c/r"
    assert root.findtext("os/cmdline") == "console=ttyS0"
    assert root.find("os/boot") is None


@pytest.mark.parametrize(
    "bad_spec,bad_paths",
    [
        (dict(vcpus=0), {}),
        (dict(memory_mb=0), {}),
        ({}, dict(root_disk=None)),
        ({}, dict(ramdisk="/c/r")),
    ],
)
def test_invalid_specs_are_refused(bad_spec, bad_paths):
    with pytest.raises(InvalidSpec):
        domain_xml(spec(**bad_spec), paths(**bad_paths), domain_type="qemu")


def test_instance_name_round_trips_through_metadata_and_foreign_domains_have_none():
    text = domain_xml(spec(name="a <b> & c"), paths(), domain_type="test")
    assert instance_name_from_xml(text) == "a <b> & c"
    assert instance_name_from_xml("<domain type='test'><name>x</name></domain>") is None


def test_ports_become_ethernet_interfaces_on_taps_named_from_the_port():
    from compute_node.drivers.base import NicSpec
    from compute_node.drivers.libvirt.xml import has_port_interfaces

    nics = (
        NicSpec("1f0c3a5e-aaaa", "FA:16:3E:00:00:01", "tap1f0c3a5e-aa", 1450),
        NicSpec("2b", "fa:16:3e:00:00:02", "tap2b"),
    )
    text = domain_xml(spec(nics=nics), paths(), domain_type="qemu", network="bridge:br0")
    interfaces = parse(text).findall("devices/interface")
    assert [i.get("type") for i in interfaces] == ["ethernet", "ethernet"]
    assert interface_macs(text) == ["fa:16:3e:00:00:01", "fa:16:3e:00:00:02"]
    assert [i.find("target").get("dev") for i in interfaces] == ["tap1f0c3a5e-aa", "tap2b"]
    assert interfaces[0].find("mtu").get("size") == "1450"
    assert interfaces[1].find("mtu") is None
    assert interfaces[0].find("source") is None  # on no bridge until the wiring plugs it
    assert has_port_interfaces(text)
    assert not has_port_interfaces(domain_xml(spec(), paths(), domain_type="qemu"))
