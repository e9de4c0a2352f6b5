"""The config drive: an ISO 9660 volume labelled `config-2` in OpenStack's layout, as
cloud-init's ConfigDrive source (and the demo image's init) reads it.

`openstack/<version>/` holds `meta_data.json`, `user_data` (when there is some),
`vendor_data.json`, `network_data.json` and `vendor_data2.json`, each file only in the
versions that define it, as Nova writes them; `latest` holds them all. Readers pick the newest
version they know, so every version holds the same content.

The volume carries Rock Ridge and Joliet names beside the ISO 9660 ones: the file names are
lowercase and longer than 8.3, and Linux shows Rock Ridge names (Joliet where Rock Ridge is
off). Interchange level 4 lets the ISO 9660 names be the same names, as genisoimage's
`-allow-lowercase -allow-multidot -l` does for Nova.
"""

from __future__ import annotations

import base64
import io
import json
import os
from dataclasses import dataclass

import pycdlib

from compute_node.drivers.base import InstanceSpec

LABEL = "config-2"
# OpenStack's metadata versions, oldest first (cloud-init's OS_VERSIONS), and the first
# version that has each optional file.
VERSIONS = (
    "2012-08-10",
    "2013-04-04",
    "2013-10-17",
    "2015-10-15",
    "2016-06-30",
    "2016-10-06",
    "2017-02-22",
    "2018-08-27",
)
FILE_SINCE = {
    "vendor_data.json": "2013-10-17",
    "network_data.json": "2015-10-15",
    "vendor_data2.json": "2016-10-06",
}
RANDOM_SEED_BYTES = 512  # what Nova hands guests to seed their random number generator


@dataclass(frozen=True)
class GuestNic:
    """One of the guest's network interfaces, as the node wired it."""

    mac: str
    link_type: str  # network_data.json's link type: "bridge", or "ethernet" for QEMU's NAT
    mtu: int = 0  # 0: not said


def meta_data(spec: InstanceSpec) -> dict:
    guest = spec.guest
    return {
        "uuid": spec.uuid,
        "name": spec.name,
        "hostname": guest.hostname,
        "project_id": guest.project_id,
        "availability_zone": guest.availability_zone,
        "launch_index": 0,
        "public_keys": {key.name: key.public_key for key in guest.keys},
        "keys": [
            {"name": key.name, "type": key.type, "data": key.public_key} for key in guest.keys
        ],
        "meta": dict(spec.metadata),
        "random_seed": base64.b64encode(os.urandom(RANDOM_SEED_BYTES)).decode(),
    }


def network_data(nics: list[GuestNic]) -> dict:
    """Every network is DHCP: QEMU's NAT serves it on the `user` network, the node's own
    dnsmasq a port's fixed address on a network port."""
    links = [
        {"id": f"interface{i}", "type": nic.link_type, "ethernet_mac_address": nic.mac.lower()}
        | ({"mtu": nic.mtu} if nic.mtu else {})
        for i, nic in enumerate(nics)
    ]
    networks = [
        {"id": f"network{i}", "type": "ipv4_dhcp", "link": link["id"]}
        for i, link in enumerate(links)
    ]
    return {"links": links, "networks": networks, "services": []}


def contents(spec: InstanceSpec, nics: list[GuestNic]) -> dict[str, bytes]:
    """Path on the volume -> bytes, for an instance with guest data."""
    if spec.guest is None:
        raise ValueError(f"instance {spec.uuid} has no guest data for a config drive")
    files = {
        "meta_data.json": _json(meta_data(spec)),
        "vendor_data.json": _json({}),
        "network_data.json": _json(network_data(nics)),
        "vendor_data2.json": _json({}),
    }
    if spec.guest.user_data:
        files["user_data"] = spec.guest.user_data
    return {
        f"openstack/{version}/{name}": data
        for version in (*VERSIONS, "latest")
        for name, data in files.items()
        if version == "latest" or version >= FILE_SINCE.get(name, "")
    }


def write(path: str, spec: InstanceSpec, nics: list[GuestNic]) -> None:
    """Writes the instance's config drive to `path` (replaced whole: a reader never sees a
    half-written volume)."""
    files = contents(spec, nics)
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=4, joliet=3, rock_ridge="1.09", vol_ident=LABEL)
    partial = f"{path}.partial"
    try:
        made = set()
        for name, data in sorted(files.items()):
            parts = name.split("/")
            for depth in range(1, len(parts)):
                directory = "/" + "/".join(parts[:depth])
                if directory not in made:
                    iso.add_directory(directory, rr_name=parts[depth - 1], joliet_path=directory)
                    made.add(directory)
            iso.add_fp(
                io.BytesIO(data), len(data), f"/{name}", rr_name=parts[-1], joliet_path=f"/{name}"
            )
        iso.write(partial)
        os.replace(partial, path)
    finally:
        iso.close()
        if os.path.exists(partial):
            os.unlink(partial)


def _json(value) -> bytes:
    return json.dumps(value, sort_keys=True).encode()
