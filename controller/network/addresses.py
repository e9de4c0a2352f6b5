"""The rules of a subnet's addresses, as Neutron applies them: plain `ipaddress` arithmetic,
no database. Each failure is INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass

from stratus_common.errors import InvalidArgument

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class SubnetPlan:
    """A subnet's addresses once checked: what the table stores."""

    ip_version: int
    cidr: str
    gateway_ip: str | None
    pools: list[list[str]]  # [[first, last], ...], sorted, disjoint
    dns_nameservers: list[str]
    host_routes: list[list[str]]  # [[destination cidr, nexthop], ...]


def network(field: str, value: str, version: int = 0) -> IpNetwork:
    """A CIDR given as its network address and prefix (10.0.0.0/24, not 10.0.0.5/24)."""
    if "/" not in value:
        raise InvalidArgument(field, "must be an address with a prefix length, e.g. 10.0.0.0/24")
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise InvalidArgument(field, "is not a network address with its prefix length") from None
    if version and net.version != version:
        raise InvalidArgument(field, f"is not an IPv{version} network")
    return net


def address(field: str, value: str, version: int = 0) -> IpAddress:
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise InvalidArgument(field, "is not an IP address") from None
    if version and addr.version != version:
        raise InvalidArgument(field, f"is not an IPv{version} address")
    return addr


def prefix(field: str, value: str) -> IpNetwork:
    """An address or CIDR (allowed address pairs, remote prefixes): host bits may be set."""
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise InvalidArgument(field, "is not an IP address or CIDR") from None


def usable_range(net: IpNetwork) -> tuple[int, int]:
    """The first and last address a pool may hold: IPv4 leaves out the network and broadcast
    addresses (but a /31 and /32 have none), IPv6 the subnet-router anycast address."""
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.version == 4 and net.prefixlen < 31:
        return first + 1, last - 1
    if net.version == 6 and net.prefixlen < 127:
        return first + 1, last
    return first, last


def plan(
    cidr: str,
    ip_version: int,
    gateway_ip: str | None,
    pools: list[tuple[str, str]],
    dns_nameservers: list[str],
    host_routes: list[tuple[str, str]],
) -> SubnetPlan:
    """Checks a subnet's addresses; gateway_ip None means the CIDR's first usable address, ""
    means no gateway."""
    if ip_version not in (0, 4, 6):
        raise InvalidArgument("subnet.ip_version", "must be 4 or 6")
    net = network("subnet.cidr", cidr, ip_version)
    low, high = usable_range(net)
    if high < low:
        raise InvalidArgument("subnet.cidr", "has no usable addresses")
    gateway = None
    if gateway_ip is None:
        gateway = ipaddress.ip_address(low)
    elif gateway_ip:
        gateway = address("subnet.gateway_ip", gateway_ip, net.version)
        if gateway not in net:
            raise InvalidArgument("subnet.gateway_ip", "is outside the subnet's CIDR")
        if (
            net.version == 4
            and net.prefixlen < 31
            and int(gateway)
            in (
                int(net.network_address),
                int(net.broadcast_address),
            )
        ):
            raise InvalidArgument("subnet.gateway_ip", "is the network or broadcast address")
    ranges = _pools(net, pools, low, high, gateway)
    return SubnetPlan(
        ip_version=net.version,
        cidr=str(net),
        gateway_ip=str(gateway) if gateway is not None else None,
        pools=[[str(ipaddress.ip_address(a)), str(ipaddress.ip_address(b))] for a, b in ranges],
        dns_nameservers=nameservers(dns_nameservers),
        host_routes=routes(host_routes, net.version),
    )


def _pools(net, pools, low: int, high: int, gateway) -> list[tuple[int, int]]:
    if not pools:
        # The whole usable range, less the gateway (which splits it in two at most).
        if gateway is None or not low <= int(gateway) <= high:
            return [(low, high)]
        g = int(gateway)
        return [(a, b) for a, b in ((low, g - 1), (g + 1, high)) if a <= b]
    ranges = []
    for n, (start, end) in enumerate(pools):
        field = f"subnet.allocation_pools[{n}]"
        a = int(address(f"{field}.start", start, net.version))
        b = int(address(f"{field}.end", end, net.version))
        if a > b:
            raise InvalidArgument(field, "starts after it ends")
        if a < low or b > high:
            raise InvalidArgument(field, "lies outside the subnet's usable addresses")
        if gateway is not None and a <= int(gateway) <= b:
            raise InvalidArgument(field, "holds the gateway address")
        ranges.append((a, b))
    ranges.sort()
    for (_, end), (start, _) in itertools.pairwise(ranges):
        if start <= end:
            raise InvalidArgument("subnet.allocation_pools", "overlap each other")
    return ranges


def nameservers(values: list[str]) -> list[str]:
    found = []
    for n, value in enumerate(values):
        text = str(address(f"subnet.dns_nameservers[{n}]", value))
        if text in found:
            raise InvalidArgument(f"subnet.dns_nameservers[{n}]", "is listed twice")
        found.append(text)
    return found


def routes(values: list[tuple[str, str]], version: int) -> list[list[str]]:
    found = []
    for n, (destination, nexthop) in enumerate(values):
        field = f"subnet.host_routes[{n}]"
        dest = network(f"{field}.destination", destination, version)
        hop = address(f"{field}.nexthop", nexthop, version)
        found.append([str(dest), str(hop)])
    return found


def in_pools(value: int, pools: list[list[str]]) -> bool:
    return any(
        int(ipaddress.ip_address(a)) <= value <= int(ipaddress.ip_address(b)) for a, b in pools
    )
