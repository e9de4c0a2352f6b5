"""Domain XML from an instance spec. Pure: paths in, a string out.

Choices, each for a reason:
- `<features><acpi/></features>`: without it a guest's poweroff (and our graceful stop) never
  ends the domain.
- Serial console written straight to a file by QEMU (`<serial type='file'>`): console output
  needs no virtlogd and survives the agent.
- Network: `user` is QEMU's user-mode (slirp) NAT, which needs no bridge and no root on the
  host; `bridge:<name>` attaches a virtio NIC to an existing bridge; `none` defines no NIC.
  A spawn with ports (`spec.nics`) gets one `ethernet` interface per port instead: libvirt
  creates the tap under the port's name with its MAC and MTU and attaches it to nothing, and
  the node's network wiring puts it on its bridge once its firewall rules are in place.
- The config drive is a read-only IDE CD-ROM (`hdd`, as Nova attaches it): the `pc` machine
  boots with IDE under TCG and KVM alike, and guests find it by its label, `config-2`.
- No `<cpu>` element: QEMU's default model is what the KVM probe tested (accel.py).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from compute_node.drivers.base import InstanceSpec, InvalidSpec

METADATA_NS = "urn:stratus:instance:1"


@dataclass(frozen=True)
class DomainPaths:
    """Files on the host that the domain uses (already resolved by the caller)."""

    root_disk: str | None  # the instance's qcow2 overlay
    kernel: str | None
    ramdisk: str | None
    console_log: str
    config_drive: str | None = None  # the instance's config drive ISO


def domain_name(uuid: str) -> str:
    return f"instance-{uuid}"


def parse_network(network: str) -> tuple[str, str | None]:
    if network in ("user", "none"):
        return network, None
    if network.startswith("bridge:") and len(network) > len("bridge:"):
        return "bridge", network[len("bridge:") :]
    raise InvalidSpec(f"network must be user, none or bridge:<name>, not {network!r}")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: object) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


def domain_xml(
    spec: InstanceSpec,
    paths: DomainPaths,
    *,
    domain_type: str,
    arch: str = "x86_64",
    network: str = "user",
) -> str:
    if spec.vcpus < 1 or spec.memory_mb < 1:
        raise InvalidSpec("vcpus and memory_mb must be positive")
    if paths.ramdisk and not paths.kernel:
        raise InvalidSpec("a ramdisk needs a kernel")
    if not paths.kernel and not paths.root_disk:
        raise InvalidSpec("nothing to boot: give a root disk or a kernel")
    net_type, bridge = parse_network(network)

    dom = ET.Element("domain", type=domain_type)
    _sub(dom, "name", domain_name(spec.uuid))
    _sub(dom, "uuid", spec.uuid)
    _sub(dom, "title", spec.name)
    metadata = _sub(dom, "metadata")
    instance = ET.SubElement(metadata, f"{{{METADATA_NS}}}instance")
    ET.SubElement(instance, f"{{{METADATA_NS}}}name").text = spec.name
    _sub(dom, "memory", str(spec.memory_mb), unit="MiB")
    _sub(dom, "vcpu", str(spec.vcpus))

    os_el = _sub(dom, "os")
    _sub(os_el, "type", "hvm", arch=arch, machine="pc")
    if paths.kernel:
        _sub(os_el, "kernel", paths.kernel)
        if paths.ramdisk:
            _sub(os_el, "initrd", paths.ramdisk)
        if spec.cmdline:
            _sub(os_el, "cmdline", spec.cmdline)
    else:
        _sub(os_el, "boot", dev="hd")
    features = _sub(dom, "features")
    _sub(features, "acpi")
    _sub(dom, "clock", offset="utc")
    _sub(dom, "on_poweroff", "destroy")
    _sub(dom, "on_reboot", "restart")
    _sub(dom, "on_crash", "destroy")

    devices = _sub(dom, "devices")
    if paths.root_disk:
        disk = _sub(devices, "disk", type="file", device="disk")
        _sub(
            disk,
            "driver",
            name="qemu",
            type="qcow2",
            cache="none" if domain_type == "kvm" else "writeback",
        )
        _sub(disk, "source", file=paths.root_disk)
        _sub(disk, "target", dev="vda", bus="virtio")
    if paths.config_drive:
        cdrom = _sub(devices, "disk", type="file", device="cdrom")
        _sub(cdrom, "driver", name="qemu", type="raw")
        _sub(cdrom, "source", file=paths.config_drive)
        _sub(cdrom, "target", dev="hdd", bus="ide")
        _sub(cdrom, "readonly")
    if spec.nics:
        for nic in spec.nics:
            iface = _sub(devices, "interface", type="ethernet")
            _sub(iface, "mac", address=nic.mac_address.lower())
            _sub(iface, "target", dev=nic.tap, managed="yes")
            if nic.mtu:
                _sub(iface, "mtu", size=nic.mtu)
            _sub(iface, "model", type="virtio")
    elif net_type != "none":
        iface = _sub(devices, "interface", type=net_type)
        if bridge:
            _sub(iface, "source", bridge=bridge)
        _sub(iface, "model", type="virtio")
    serial = _sub(devices, "serial", type="file")
    _sub(serial, "source", path=paths.console_log)
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type="file")
    _sub(console, "source", path=paths.console_log)
    _sub(console, "target", type="serial", port="0")
    graphics = _sub(devices, "graphics", type="vnc", port="-1", autoport="yes")
    _sub(graphics, "listen", type="address", address="127.0.0.1")
    _sub(devices, "memballoon", model="virtio")

    ET.register_namespace("stratus", METADATA_NS)
    return ET.tostring(dom, encoding="unicode")


def interface_macs(xml: str) -> list[str]:
    """The MAC addresses of the domain's NICs, in order (libvirt picks them at define)."""
    macs = ET.fromstring(xml).findall("devices/interface/mac")
    return [mac.get("address", "") for mac in macs]


def has_port_interfaces(xml: str) -> bool:
    """True when the guest's NICs are network ports (their addresses are the controller's)."""
    return any(i.get("type") == "ethernet" for i in ET.fromstring(xml).findall("devices/interface"))


def instance_name_from_xml(xml: str) -> str | None:
    """The instance name we stored, or None when the domain is not ours."""
    root = ET.fromstring(xml)
    instance = root.find(f"metadata/{{{METADATA_NS}}}instance")
    if instance is None:
        return None
    return instance.findtext(f"{{{METADATA_NS}}}name") or ""
