"""The desired wiring, as plain values (the wire's NetworkState, converted by the agent)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class NetworkType(str, enum.Enum):
    FLAT = "flat"
    VLAN = "vlan"
    VXLAN = "vxlan"


class PortStatus(str, enum.Enum):
    DOWN = "DOWN"  # on this node, no guest interface plugged (yet)
    BUILD = "BUILD"
    ACTIVE = "ACTIVE"  # plugged into its network, firewall in place
    ERROR = "ERROR"


class Direction(str, enum.Enum):
    INGRESS = "ingress"  # to the guest
    EGRESS = "egress"  # from the guest


@dataclass(frozen=True)
class HostRoute:
    destination: str
    nexthop: str


@dataclass(frozen=True)
class Subnet:
    subnet_id: str
    cidr: str
    ip_version: int = 4
    gateway_ip: str = ""
    enable_dhcp: bool = True
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[HostRoute, ...] = ()


@dataclass(frozen=True)
class Network:
    network_id: str
    network_type: NetworkType
    physical_network: str = ""
    segmentation_id: int = 0
    mtu: int = 1500
    vxlan_peers: tuple[str, ...] = ()
    subnets: tuple[Subnet, ...] = ()
    admin_state_up: bool = True


@dataclass(frozen=True)
class FixedIp:
    subnet_id: str
    ip_address: str


@dataclass(frozen=True)
class AddressPair:
    ip_address: str  # an address or a CIDR
    mac_address: str = ""  # empty: the port's own


@dataclass(frozen=True)
class Port:
    port_id: str
    network_id: str
    mac_address: str
    instance_id: str = ""
    fixed_ips: tuple[FixedIp, ...] = ()
    port_security_enabled: bool = True
    security_group_ids: tuple[str, ...] = ()
    allowed_address_pairs: tuple[AddressPair, ...] = ()
    mtu: int = 0  # 0: the network's
    admin_state_up: bool = True


@dataclass(frozen=True)
class Rule:
    rule_id: str
    direction: Direction
    ip_version: int = 4
    protocol: str = ""  # "" any; tcp, udp, icmp, icmpv6, or a protocol number
    port_range_min: int = 0  # tcp/udp: 0 any. icmp: the type, -1 any
    port_range_max: int = 0  # tcp/udp: 0 any. icmp: the code, -1 any
    remote_ip_prefix: str = ""
    remote_group_id: str = ""


@dataclass(frozen=True)
class SecurityGroup:
    security_group_id: str
    rules: tuple[Rule, ...] = ()
    member_ips: tuple[str, ...] = ()


@dataclass(frozen=True)
class NetworkState:
    revision: int = 0
    networks: tuple[Network, ...] = ()
    ports: tuple[Port, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()

    def network(self, network_id: str) -> Network | None:
        return next((n for n in self.networks if n.network_id == network_id), None)


@dataclass(frozen=True)
class PortReport:
    port_id: str
    status: PortStatus
    detail: str = ""


@dataclass(frozen=True)
class StatusReport:
    revision: int
    ports: tuple[PortReport, ...] = ()
