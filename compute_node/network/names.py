"""Kernel device names (at most 15 characters), as Neutron's Linux bridge agent names them."""

from __future__ import annotations

import hashlib

IFNAMSIZ = 15
TAP_PREFIX = "tap"
BRIDGE_PREFIX = "brq"
VXLAN_PREFIX = "vxlan-"
# Every device the wiring creates carries this alias (with its network id), so clean-up
# removes only what it made.
ALIAS_PREFIX = "stratus-net:"


def tap(port_id: str) -> str:
    """The guest's interface for a port: libvirt creates it at spawn under this name."""
    return TAP_PREFIX + port_id[: IFNAMSIZ - len(TAP_PREFIX)]


def bridge(network_id: str) -> str:
    return BRIDGE_PREFIX + network_id[: IFNAMSIZ - len(BRIDGE_PREFIX)]


def vxlan(vni: int) -> str:
    return f"{VXLAN_PREFIX}{vni}"


def vlan(device: str, vlan_id: int) -> str:
    suffix = f".{vlan_id}"
    if len(device) + len(suffix) <= IFNAMSIZ:
        return device + suffix
    digest = hashlib.sha1(device.encode()).hexdigest()
    return digest[: IFNAMSIZ - len(suffix)] + suffix


def alias(network_id: str) -> str:
    return ALIAS_PREFIX + network_id
