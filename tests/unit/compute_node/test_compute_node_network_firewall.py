"""The nftables ruleset, as text: what each security group rule becomes, and what a port
with and without port security gets. (Packets are judged in
tests/integration/node_network.)"""

import pytest

from compute_node.network.firewall import Ruleset, rule_match
from compute_node.network.model import (
    AddressPair,
    Direction,
    FixedIp,
    NetworkState,
    Port,
    Rule,
    SecurityGroup,
)

GROUPS = {"sg": SecurityGroup("sg", member_ips=("10.0.0.5", "fd00::5"))}


@pytest.mark.parametrize(
    "rule, expected",
    [
        (Rule("r", Direction.INGRESS), "meta nfproto ipv4"),
        (Rule("r", Direction.EGRESS, 6), "meta nfproto ipv6"),
        (
            Rule("r", Direction.INGRESS, 4, "tcp", 22, 22, remote_ip_prefix="10.1.2.3/16"),
            "meta nfproto ipv4 ip saddr 10.1.0.0/16 tcp dport 22",
        ),
        (
            Rule("r", Direction.EGRESS, 4, "udp", 1000, 2000, remote_group_id="sg"),
            "meta nfproto ipv4 ip daddr @g_sg_4 udp dport 1000-2000",
        ),
        (Rule("r", Direction.INGRESS, 4, "tcp", 8080, 0), "meta nfproto ipv4 tcp dport 8080"),
        (Rule("r", Direction.INGRESS, 4, "tcp"), "meta nfproto ipv4 meta l4proto tcp"),
        (
            Rule("r", Direction.INGRESS, 4, "icmp", -1, -1),
            "meta nfproto ipv4 meta l4proto icmp",
        ),
        (
            Rule("r", Direction.INGRESS, 4, "icmp", 8, -1),
            "meta nfproto ipv4 meta l4proto icmp icmp type 8",
        ),
        (
            Rule("r", Direction.INGRESS, 4, "icmp", 3, 4),
            "meta nfproto ipv4 meta l4proto icmp icmp type 3 icmp code 4",
        ),
        (
            Rule("r", Direction.INGRESS, 6, "icmp", 128, -1, remote_group_id="sg"),
            "meta nfproto ipv6 ip6 saddr @g_sg_6 meta l4proto icmpv6 icmpv6 type 128",
        ),
        (Rule("r", Direction.INGRESS, 4, "47"), "meta nfproto ipv4 meta l4proto 47"),
    ],
)
def test_a_rule_becomes_one_match(rule, expected):
    assert rule_match(rule, GROUPS) == expected


@pytest.mark.parametrize(
    "rule",
    [
        Rule("r", Direction.INGRESS, 4, remote_group_id="unknown-group"),
        Rule("r", Direction.INGRESS, 6, remote_ip_prefix="10.0.0.0/8"),
        Rule("r", Direction.INGRESS, 4, "not-a-protocol"),
    ],
)
def test_a_rule_that_can_never_match_is_left_out(rule):
    assert rule_match(rule, GROUPS) is None


def state(**port):
    values = dict(
        port_id="p1",
        network_id="n1",
        mac_address="FA:16:3E:00:00:01",
        fixed_ips=(FixedIp("s", "10.0.0.5"),),
        security_group_ids=("sg",),
    )
    values.update(port)
    group = SecurityGroup("sg", (Rule("icmp", Direction.INGRESS, 4, "icmp", -1, -1),))
    return NetworkState(3, ports=(Port(**values),), security_groups=(group,))


def test_a_port_with_port_security_gets_anti_spoofing_and_its_groups_rules():
    text = Ruleset(state(), 7, ["vxlan-5"]).text()
    assert "ether saddr != { fa:16:3e:00:00:01 } drop" in text
    assert "elements = { 10.0.0.5/32 }" in text
    assert "ether type ip ip saddr != @v4_1 drop" in text
    assert (
        "meta nfproto ipv4 meta l4proto icmp ct mark set ct mark and 0xffff or 0x70000 accept"
        in text
    )
    assert 'oifname { "vxlan-5" } ether type ip udp dport 67 drop' in text
    # Replaced whole, in one transaction, whether or not the tables exist.
    assert text.startswith("table bridge stratus\ndelete table bridge stratus\n")


def test_allowed_address_pairs_may_send_too():
    pairs = (AddressPair("10.9.0.0/24", "fa:16:3e:00:00:99"), AddressPair("10.0.0.77"))
    text = Ruleset(state(allowed_address_pairs=pairs), 1).text()
    assert "ether saddr != { fa:16:3e:00:00:01, fa:16:3e:00:00:99 } drop" in text
    assert "10.9.0.0/24" in text and "10.0.0.77/32" in text


def test_a_port_without_port_security_is_only_marked():
    text = Ruleset(state(port_security_enabled=False), 1).text()
    assert "drop" not in text.split("chain from_1")[1].split("}")[0]
    assert "jump egress_1" not in text
