"""Security groups and anti-spoofing with nftables, one ruleset per node, replaced whole in
one `nft -f` transaction (a packet sees the old rules or the new, never a mix).

Two tables, because this kernel's bridge family has no connection tracking:
- `bridge stratus` sees every frame a guest sends (prerouting): anti-spoofing (only the
  port's MACs and addresses may leave its tap; a DHCP client's discover is let through) and
  a packet mark naming the port the frame came from and, once the bridge has chosen, the
  port it goes to (IN_PORT, OUT_PORT). It also keeps each node's DHCP to itself.
- `inet stratus` sees bridged IP traffic through the kernel's bridge netfilter (sysctl
  `net.bridge.bridge-nf-call-iptables`/`ip6tables`), with conntrack: per port, an egress
  chain (from the guest) and an ingress chain (to it), stateful, default drop, each jumping
  to one chain per security group (a group's rules are written once, however many ports
  use it).

A connection admitted by a rule carries the ruleset's generation in its conntrack mark (low
half: egress, high half: ingress). After a rule change the generation moves on, so the next
packet of every established connection started from outside is checked against the new
rules: removing a rule stops even a ping already running, at once.

Not filtered: traffic this host itself sends to a guest (the all-in-one's host is the
gateway; replies to it pass as established).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from compute_node.network import names
from compute_node.network.model import Direction, NetworkState, Port, Rule, SecurityGroup
from compute_node.network.runner import Runner

TABLE = "stratus"
SYSCTLS = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")
# What a guest needs whatever its rules say: DHCP and IPv6 neighbour discovery.
EGRESS_ALWAYS = (
    "udp sport 68 udp dport 67",
    "udp sport 546 udp dport 547",
    (
        "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, "
        "mld-listener-report, mld2-listener-report }"
    ),
)
INGRESS_ALWAYS = (
    "udp sport 67 udp dport 68",
    "udp sport 547 udp dport 546",
    "icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-query }",
)
# The packet mark: the port a frame came from (bits 0-14), a flag set once its egress rules
# allowed it (bit 15), and the port it goes to (bits 16-31). So at most 32767 ports a node.
IN_PORT, ALLOWED, OUT_PORT = 0x7FFF, 0x8000, 0xFFFF0000
NAMED_PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58}


def identifier(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", value)


def _quoted(items: Iterable[str]) -> str:
    return ", ".join(f'"{i}"' for i in items)


def _networks(values: Iterable[str], version: int) -> list[str]:
    """The addresses and CIDRs of one IP version, normalised; others left out."""
    found = []
    for value in values:
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            continue
        if net.version == version:
            found.append(str(net))
    return sorted(set(found))


def _set(name: str, version: int, elements: list[str]) -> str:
    kind = "ipv4_addr" if version == 4 else "ipv6_addr"
    body = f"    type {kind}; flags interval; auto-merge;\n"
    if elements:
        body += f"    elements = {{ {', '.join(elements)} }}\n"
    return f"  set {name} {{\n{body}  }}\n"


def group_set(group_id: str, version: int) -> str:
    return f"g_{identifier(group_id)}_{version}"


def rule_match(rule: Rule, groups: dict[str, SecurityGroup]) -> str | None:
    """The nft match for a rule, seen from the guest's side; None when it can never match
    (a remote group this node was not told about, a remote CIDR of the other version)."""
    version = 6 if rule.ip_version == 6 else 4
    family = "ip" if version == 4 else "ip6"
    parts = [f"meta nfproto ipv{version}"]
    address = "saddr" if rule.direction is Direction.INGRESS else "daddr"
    if rule.remote_ip_prefix:
        prefix = _networks([rule.remote_ip_prefix], version)
        if not prefix:
            return None
        parts.append(f"{family} {address} {prefix[0]}")
    elif rule.remote_group_id:
        if rule.remote_group_id not in groups:
            return None
        parts.append(f"{family} {address} @{group_set(rule.remote_group_id, version)}")
    protocol = rule.protocol.lower()
    number = NAMED_PROTOCOLS.get(protocol) if not protocol.isdigit() else int(protocol)
    if protocol and number is None:
        return None
    if number in (6, 17):
        name = "tcp" if number == 6 else "udp"
        low, high = rule.port_range_min, rule.port_range_max or rule.port_range_min
        if low > 0:
            parts.append(f"{name} dport {low}" if high == low else f"{name} dport {low}-{high}")
        else:
            parts.append(f"meta l4proto {name}")
    elif number in (1, 58):
        name = "icmp" if version == 4 else "icmpv6"
        parts.append(f"meta l4proto {name}")
        if rule.port_range_min >= 0:
            parts.append(f"{name} type {rule.port_range_min}")
            if rule.port_range_max >= 0:
                parts.append(f"{name} code {rule.port_range_max}")
    elif number is not None:
        parts.append(f"meta l4proto {number}")
    return " ".join(parts)


class Ruleset:
    """Renders the two tables for a state. Pure: a state in, `nft -f` text out."""

    def __init__(self, state: NetworkState, generation: int, uplinks: Iterable[str] = ()):
        self.state = state
        self.generation = generation
        self.uplinks = sorted(u for u in uplinks if u)
        self.groups = {g.security_group_id: g for g in state.security_groups}
        self.ports = list(state.ports)

    def text(self) -> str:
        # Declaring then deleting makes the replacement work whether or not a table exists.
        head = "".join(
            f"table {family} {TABLE}\ndelete table {family} {TABLE}\n"
            for family in ("bridge", "inet")
        )
        return head + self._bridge_table() + self._inet_table()

    # -- bridge: anti-spoofing, marks, DHCP kept local ----------------------------------

    def _bridge_table(self) -> str:
        out = [f"table bridge {TABLE} {{\n"]
        pre, fwd = [], []
        for index, port in enumerate(self.ports, start=1):
            tap = names.tap(port.port_id)
            pre.append(f'iifname "{tap}" jump from_{index}')
            fwd.append(f'oifname "{tap}" meta mark set meta mark or {index << 16:#x}')
            out.append(self._spoof_sets(index, port))
            out.append(self._from_port_chain(index, port))
        out.append(self._chain("prerouting", "prerouting", -200, pre))
        local = []
        if self.uplinks:
            uplinks = f"{{ {_quoted(self.uplinks)} }}"
            # Each node answers DHCP for its own ports only: requests never leave this host,
            # and nothing from the uplinks reaches the host's DHCP server address.
            fwd += [
                f"oifname {uplinks} ether type ip udp dport 67 drop",
                f"iifname {uplinks} ether type ip udp dport 67 drop",
            ]
            local = [f"oifname {uplinks} drop"]
            out.append(self._chain("input", "input", -200, [f"iifname {uplinks} drop"]))
        out.append(self._chain("forward", "forward", -200, fwd))
        out.append(self._chain("output", "output", -200, local))
        out.append("}\n")
        return "".join(out)

    def _spoof_sets(self, index: int, port: Port) -> str:
        pairs = [p.ip_address for p in port.allowed_address_pairs]
        fixed = [f.ip_address for f in port.fixed_ips]
        v4 = _networks([*fixed, *pairs], 4)
        v6 = _networks([*fixed, *pairs, "fe80::/10"], 6)
        return _set(f"v4_{index}", 4, v4) + _set(f"v6_{index}", 6, v6)

    def _from_port_chain(self, index: int, port: Port) -> str:
        rules = [f"meta mark set {index:#x}"]
        if port.port_security_enabled:
            macs = sorted(
                {port.mac_address.lower()}
                | {p.mac_address.lower() for p in port.allowed_address_pairs if p.mac_address}
            )
            macset = f"{{ {', '.join(macs)} }}"
            rules += [
                f"ether saddr != {macset} drop",
                "ether type != { ip, ip6, arp } drop",
                f"arp saddr ether != {macset} drop",
                f"arp saddr ip != @v4_{index} arp saddr ip != 0.0.0.0 drop",
                # A DHCP client has no address yet.
                "ether type ip ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept",
                f"ether type ip ip saddr != @v4_{index} drop",
                f"ether type ip6 ip6 saddr != @v6_{index} ip6 saddr != :: drop",
                # A guest is no DHCP server and no router.
                "ether type ip udp sport 67 drop",
                "ether type ip6 udp sport 547 drop",
                "ether type ip6 icmpv6 type nd-router-advert drop",
            ]
        return self._chain(f"from_{index}", None, 0, rules)

    # -- inet: security groups, stateful -------------------------------------------------

    def _inet_table(self) -> str:
        out = [f"table inet {TABLE} {{\n"]
        out += [
            _set(group_set(g.security_group_id, v), v, _networks(g.member_ips, v))
            for g in self.groups.values()
            for v in (4, 6)
        ]
        used: set[str] = set()
        forward, local_in = [], []
        for index, port in enumerate(self.ports, start=1):
            if not port.port_security_enabled:
                continue
            groups = [g for g in port.security_group_ids if g in self.groups]
            used.update(groups)
            out.append(self._port_egress_chain(index, groups))
            out.append(self._port_ingress_chain(index, groups))
            forward += [
                f"meta mark and {IN_PORT:#x} == {index:#x} jump egress_{index}",
                f"meta mark and {OUT_PORT:#x} == {index << 16:#x} jump ingress_{index}",
            ]
            local_in.append(f"meta mark and {IN_PORT:#x} == {index:#x} jump egress_{index}")
        for group_id in sorted(used):
            out += self._group_chains(self.groups[group_id])
        # Overlapping addresses on two networks of this node must not share conntrack
        # entries: each bridge is its own zone.
        zones_in, zones_out = [], []
        for network_id, zone in self.zones().items():
            bridge = names.bridge(network_id)
            zones_in.append(f'iifname "{bridge}" ct zone set {zone}')
            zones_out.append(f'oifname "{bridge}" ct zone set {zone}')
        out.append(self._chain("zone_in", "prerouting", -300, zones_in))
        out.append(self._chain("zone_out", "output", -300, zones_out))
        out.append(self._chain("forward", "forward", 0, forward))
        out.append(self._chain("input", "input", 0, local_in))
        out.append("}\n")
        return "".join(out)

    def zones(self) -> dict[str, int]:
        networks = sorted({p.network_id for p in self.ports})
        return {network_id: i for i, network_id in enumerate(networks, start=1)}

    def _group_chains(self, group: SecurityGroup) -> list[str]:
        """A group's rules once, whatever the number of ports using it: an ingress rule
        accepts; an egress rule flags the packet allowed and returns (the packet still has
        its destination port's ingress to pass)."""
        name = identifier(group.security_group_id)
        egress, ingress = [], []
        for rule in group.rules:
            match = rule_match(rule, self.groups)
            if not match:
                continue
            if rule.direction is Direction.INGRESS:
                stamp = f"ct mark set ct mark and 0xffff or {self.generation << 16:#x}"
                ingress.append(f"{match} {stamp} accept")
            else:
                stamp = f"ct mark set ct mark and 0xffff0000 or {self.generation:#x}"
                egress.append(f"{match} {stamp} meta mark set meta mark or {ALLOWED:#x} return")
        return [
            self._chain(f"group_out_{name}", None, 0, egress),
            self._chain(f"group_in_{name}", None, 0, ingress),
        ]

    def _port_egress_chain(self, index: int, groups: list[str]) -> str:
        body = [
            "ct state established,related ct direction reply return",
            "ct state invalid drop",
            f"ct state established ct mark and 0xffff == {self.generation:#x} return",
            *(f"{m} return" for m in EGRESS_ALWAYS),
            *(f"jump group_out_{identifier(g)}" for g in groups),
            f"meta mark and {ALLOWED:#x} != 0 return",
            "drop",
        ]
        return self._chain(f"egress_{index}", None, 0, body)

    def _port_ingress_chain(self, index: int, groups: list[str]) -> str:
        body = [
            "ct state established,related ct direction reply accept",
            "ct state invalid drop",
            f"ct state established ct mark and 0xffff0000 == {self.generation << 16:#x} accept",
            *(f"{m} accept" for m in INGRESS_ALWAYS),
            *(f"jump group_in_{identifier(g)}" for g in groups),
            "drop",
        ]
        return self._chain(f"ingress_{index}", None, 0, body)

    @staticmethod
    def _chain(name: str, hook: str | None, priority: int, rules: list[str]) -> str:
        lines = [f"  chain {name} {{\n"]
        if hook:
            lines.append(f"    type filter hook {hook} priority {priority}; policy accept;\n")
        lines += [f"    {rule}\n" for rule in rules]
        lines.append("  }\n")
        return "".join(lines)


class Firewall:
    """Applies rulesets; each apply is a new generation (1..65535, never 0: a new
    connection's conntrack mark)."""

    def __init__(self, runner: Runner):
        self.runner = runner
        self.generation = 0

    def apply(self, state: NetworkState, uplinks: Iterable[str] = ()) -> None:
        for sysctl in SYSCTLS:  # written only when needed: a host may have set them already
            if self.runner.run("sysctl", "-n", sysctl).strip() != "1":
                self.runner.run("sysctl", "-qw", f"{sysctl}=1")
        self.generation = self.generation % 0xFFFF + 1
        self.runner.run("nft", "-f", "-", stdin=Ruleset(state, self.generation, uplinks).text())

    def remove(self) -> None:
        for family in ("bridge", "inet"):
            self.runner.run("nft", "delete", "table", family, TABLE, check=False)
