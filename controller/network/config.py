"""The `[network]` section of the controller's configuration."""

from __future__ import annotations

import dataclasses
import typing

# VXLAN over IPv4: outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 bytes (Neutron's 50).
VXLAN_OVERHEAD = 50
VLAN_OVERHEAD = 0  # the tag lives in the physical frame's header, as Neutron counts it


@dataclasses.dataclass
class NetworkSection:
    section: typing.ClassVar[str] = "network"
    # The VNIs tenant networks take, "first:last" (Neutron's vni_ranges).
    vni_ranges: str = "1000:99999"
    # The MTU of the underlay and of provider networks (Neutron's global_physnet_mtu).
    physical_mtu: int = 1500
    # The first three octets of generated MAC addresses (Neutron's base_mac).
    base_mac: str = "fa:16:3e"
    # Per-project limits (Neutron's defaults); -1 is unlimited.
    quota_networks: int = 100
    quota_subnets: int = 100
    quota_ports: int = 500
    quota_security_groups: int = 10
    quota_security_group_rules: int = 100

    def vni_range(self) -> tuple[int, int]:
        try:
            first, last = (int(part) for part in self.vni_ranges.split(":"))
        except ValueError:
            raise ValueError("[network] vni_ranges must be first:last, e.g. 1000:99999") from None
        if not 1 <= first <= last <= 2**24 - 1:
            raise ValueError("[network] vni_ranges must lie within 1:16777215")
        return first, last

    def quota_defaults(self) -> dict[str, int]:
        return {
            "networks": self.quota_networks,
            "subnets": self.quota_subnets,
            "ports": self.quota_ports,
            "security_groups": self.quota_security_groups,
            "security_group_rules": self.quota_security_group_rules,
        }
