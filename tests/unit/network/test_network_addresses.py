"""A subnet's address rules and IPAM's choice, as plain functions."""

import pytest

from controller.network import addresses, ipam
from stratus_common.errors import InvalidArgument


def test_a_v4_subnet_leaves_out_network_broadcast_and_gateway():
    plan = addresses.plan("10.0.0.0/24", 0, None, [], [], [])
    assert (plan.ip_version, plan.gateway_ip) == (4, "10.0.0.1")
    assert plan.pools == [["10.0.0.2", "10.0.0.254"]]


def test_a_gateway_in_the_middle_splits_the_pool():
    plan = addresses.plan("10.0.0.0/29", 4, "10.0.0.3", [], [], [])
    assert plan.pools == [["10.0.0.1", "10.0.0.2"], ["10.0.0.4", "10.0.0.6"]]


def test_small_and_v6_subnets():
    assert addresses.plan("10.0.0.0/31", 4, "", [], [], []).pools == [["10.0.0.0", "10.0.0.1"]]
    v6 = addresses.plan("fd00::/64", 6, None, [], [], [])
    assert v6.gateway_ip == "fd00::1" and v6.pools[0][0] == "fd00::2"


@pytest.mark.parametrize(
    "cidr, gateway, pools, field",
    [
        ("10.0.0.0/24", "10.0.0.0", [], "subnet.gateway_ip"),
        ("10.0.0.0/24", "10.0.0.255", [], "subnet.gateway_ip"),
        ("10.0.0.0/24", None, [("10.0.0.1", "10.0.0.5")], "subnet.allocation_pools[0]"),
        ("10.0.0.0/24", None, [("10.0.0.250", "10.0.0.255")], "subnet.allocation_pools[0]"),
        ("10.0.0.0/30", "10.0.1.1", [], "subnet.gateway_ip"),
    ],
)
def test_refusals_name_the_field(cidr, gateway, pools, field):
    with pytest.raises(InvalidArgument) as refused:
        addresses.plan(cidr, 0, gateway, pools, [], [])
    assert refused.value.violations[0].field == field


def test_first_free_skips_taken_addresses_across_pools():
    pools = [["10.0.0.2", "10.0.0.3"], ["10.0.0.10", "10.0.0.11"]]
    taken = {int(addresses.address("x", ip)) for ip in ("10.0.0.2", "10.0.0.3", "10.0.0.10")}
    assert ipam.first_free(pools, taken) == int(addresses.address("x", "10.0.0.11"))
    taken.add(int(addresses.address("x", "10.0.0.11")))
    assert ipam.first_free(pools, taken) is None
