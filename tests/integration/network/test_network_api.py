"""The network API's answers to users: every status code, tenant isolation, and bad input
that changes nothing."""

import grpc
import pytest
from google.protobuf import field_mask_pb2

from stratus.network.v1 import network_service_pb2 as npb
from tests.support.errors import raises

C = grpc.StatusCode


@pytest.fixture
def tenant(cloud):
    return cloud.tenant()


@pytest.fixture
def lan(networks, tenant):
    """A tenant's network with a /24 subnet."""
    n = networks.network(tenant.metadata, "lan")
    s = networks.subnet(tenant.metadata, n.id, "10.9.0.0/24")
    return n, s


def _snapshot(net, md, network_id):
    """What a failed call must not have changed: the network, its subnets and ports."""
    subnets = net.ListSubnets(npb.ListSubnetsRequest(network_id=network_id), metadata=md).subnets
    ports = net.ListPorts(npb.ListPortsRequest(network_id=network_id), metadata=md).ports
    return (
        net.GetNetwork(npb.GetNetworkRequest(id=network_id), metadata=md),
        list(subnets),
        sorted((p.id, tuple((f.subnet_id, f.ip_address) for f in p.fixed_ips)) for p in ports),
    )


# -- networks ----------------------------------------------------------------------------


def test_tenant_networks_get_distinct_vnis_and_the_overlay_mtu(networks, tenant):
    a = networks.network(tenant.metadata, "a")
    b = networks.network(tenant.metadata, "b")
    assert a.network_type == b.network_type == npb.NETWORK_TYPE_VXLAN
    assert a.segmentation_id != b.segmentation_id
    assert a.mtu == b.mtu == 1450 and a.status == "ACTIVE" and a.admin_state_up


@pytest.mark.parametrize(
    "fields",
    [
        {"network_type": npb.NETWORK_TYPE_FLAT, "physical_network": "physnet1"},
        {"shared": True},
        {"external": True},
        {"segmentation_id": 5000},
    ],
)
def test_provider_attributes_are_for_admins(networks, tenant, fields):
    with raises(C.PERMISSION_DENIED, "ADMIN_ONLY_FIELD"):
        networks.network(tenant.metadata, "p", **fields)


def test_admins_make_flat_and_vlan_provider_networks_each_segment_once(networks, cloud, net):
    made = []
    try:
        flat = networks.network(
            cloud.admin,
            "flat",
            network_type=npb.NETWORK_TYPE_FLAT,
            physical_network="physnet-test-flat",
        )
        made.append(flat)
        assert (flat.segmentation_id, flat.mtu) == (0, 1500)
        with raises(C.ALREADY_EXISTS, "SEGMENT_IN_USE"):
            networks.network(
                cloud.admin,
                "flat2",
                network_type=npb.NETWORK_TYPE_FLAT,
                physical_network="physnet-test-flat",
            )
        vlan = networks.network(
            cloud.admin,
            "vlan",
            network_type=npb.NETWORK_TYPE_VLAN,
            physical_network="physnet-test-vlan",
            segmentation_id=101,
        )
        made.append(vlan)
        assert vlan.segmentation_id == 101
        with raises(C.ALREADY_EXISTS, "SEGMENT_IN_USE"):
            networks.network(
                cloud.admin,
                "vlan2",
                network_type=npb.NETWORK_TYPE_VLAN,
                physical_network="physnet-test-vlan",
                segmentation_id=101,
            )
    finally:
        for n in made:
            net.DeleteNetwork(npb.DeleteNetworkRequest(id=n.id), metadata=cloud.admin)


@pytest.mark.parametrize(
    "fields, field",
    [
        (
            {"network_type": npb.NETWORK_TYPE_VLAN, "physical_network": "p"},
            "network.segmentation_id",
        ),
        (
            {
                "network_type": npb.NETWORK_TYPE_VLAN,
                "physical_network": "p",
                "segmentation_id": 4095,
            },
            "network.segmentation_id",
        ),
        ({"network_type": npb.NETWORK_TYPE_FLAT}, "network.physical_network"),
        (
            {"network_type": npb.NETWORK_TYPE_FLAT, "physical_network": "bad name!"},
            "network.physical_network",
        ),
        (
            {"network_type": npb.NETWORK_TYPE_VXLAN, "physical_network": "p"},
            "network.physical_network",
        ),
        ({"mtu": 1500}, "network.mtu"),
        ({"mtu": 10}, "network.mtu"),
    ],
)
def test_bad_network_input_is_invalid_argument_naming_the_field(networks, cloud, fields, field):
    with raises(C.INVALID_ARGUMENT, field=field):
        networks.network(cloud.admin, "bad", **fields)


def test_a_network_needs_a_name(networks, tenant):
    with raises(C.INVALID_ARGUMENT, field="network.name"):
        networks.network(tenant.metadata, "")


def test_another_project_s_network_is_not_found_and_its_own_list_leaves_it_out(
    networks, net, cloud, lan
):
    n, _ = lan
    other = cloud.tenant()
    for call in (
        lambda: net.GetNetwork(npb.GetNetworkRequest(id=n.id), metadata=other.metadata),
        lambda: net.DeleteNetwork(npb.DeleteNetworkRequest(id=n.id), metadata=other.metadata),
        lambda: networks.subnet(other.metadata, n.id, "10.10.0.0/24"),
        lambda: networks.port(other.metadata, n.id),
    ):
        with raises(C.NOT_FOUND, "NETWORK_NOT_FOUND"):
            call()
    listed = net.ListNetworks(npb.ListNetworksRequest(), metadata=other.metadata).networks
    assert n.id not in {x.id for x in listed}


def test_a_shared_network_is_used_by_others_but_changed_only_by_its_owner(networks, net, cloud):
    shared = networks.network(cloud.admin, "shared-test", shared=True)
    try:
        subnet = networks.subnet(cloud.admin, shared.id, "10.77.0.0/24")
        other = cloud.tenant()
        got = net.GetNetwork(npb.GetNetworkRequest(id=shared.id), metadata=other.metadata)
        assert got.shared and list(got.subnet_ids) == [subnet.id]
        port = networks.port(other.metadata, shared.id)
        assert port.project_id == other.project_id
        with raises(C.PERMISSION_DENIED, "NETWORK_NOT_OWNED"):
            net.DeleteNetwork(npb.DeleteNetworkRequest(id=shared.id), metadata=other.metadata)
        with raises(C.FAILED_PRECONDITION, "NETWORK_IN_USE"):
            net.UpdateNetwork(
                npb.UpdateNetworkRequest(
                    network=npb.Network(id=shared.id, shared=False),
                    update_mask=field_mask_pb2.FieldMask(paths=["shared"]),
                ),
                metadata=cloud.admin,
            )
        net.DeletePort(npb.DeletePortRequest(id=port.id), metadata=other.metadata)
    finally:
        net.DeleteNetwork(npb.DeleteNetworkRequest(id=shared.id), metadata=cloud.admin)


def test_deleting_a_network_with_ports_is_refused_and_changes_nothing(networks, net, tenant, lan):
    n, _ = lan
    networks.port(tenant.metadata, n.id)
    before = _snapshot(net, tenant.metadata, n.id)
    with raises(C.FAILED_PRECONDITION, "NETWORK_IN_USE"):
        net.DeleteNetwork(npb.DeleteNetworkRequest(id=n.id), metadata=tenant.metadata)
    assert _snapshot(net, tenant.metadata, n.id) == before


def test_a_network_without_ports_goes_with_its_subnets(networks, net, tenant, lan):
    n, s = lan
    net.DeleteNetwork(npb.DeleteNetworkRequest(id=n.id), metadata=tenant.metadata)
    with raises(C.NOT_FOUND, "SUBNET_NOT_FOUND"):
        net.GetSubnet(npb.GetSubnetRequest(id=s.id), metadata=tenant.metadata)


def test_update_network_name_and_admin_state(net, tenant, lan):
    n, _ = lan
    updated = net.UpdateNetwork(
        npb.UpdateNetworkRequest(
            network=npb.Network(id=n.id, name="renamed", admin_state_up=False),
            update_mask=field_mask_pb2.FieldMask(paths=["name", "admin_state_up"]),
        ),
        metadata=tenant.metadata,
    )
    assert (updated.name, updated.admin_state_up, updated.status) == ("renamed", False, "DOWN")
    with raises(C.INVALID_ARGUMENT, field="update_mask"):
        net.UpdateNetwork(
            npb.UpdateNetworkRequest(
                network=npb.Network(id=n.id),
                update_mask=field_mask_pb2.FieldMask(paths=["segmentation_id"]),
            ),
            metadata=tenant.metadata,
        )


def test_malformed_and_unknown_ids(net, tenant):
    with raises(C.INVALID_ARGUMENT, field="id"):
        net.GetNetwork(npb.GetNetworkRequest(id="nope"), metadata=tenant.metadata)
    with raises(C.NOT_FOUND, "PORT_NOT_FOUND"):
        net.GetPort(
            npb.GetPortRequest(id="00000000-0000-0000-0000-000000000000"), metadata=tenant.metadata
        )


def test_calls_without_a_token_are_unauthenticated(net):
    with raises(C.UNAUTHENTICATED):
        net.ListNetworks(npb.ListNetworksRequest())


def test_readers_cannot_create(cloud, networks):
    reader = cloud.tenant("reader")
    with raises(C.PERMISSION_DENIED):
        networks.network(reader.metadata, "r")


def test_network_quota_is_resource_exhausted(cloud, net, networks):
    t = cloud.tenant()
    net.UpdateNetworkQuotas(
        npb.UpdateNetworkQuotasRequest(
            quotas=npb.NetworkQuotas(
                project_id=t.project_id, limits=npb.NetworkQuotaValues(networks=1)
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["limits.networks"]),
        ),
        metadata=cloud.admin,
    )
    networks.network(t.metadata, "one")
    with raises(C.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED"):
        networks.network(t.metadata, "two")
    quotas = net.GetNetworkQuotas(npb.GetNetworkQuotasRequest(), metadata=t.metadata)
    assert (quotas.limits.networks, quotas.usage.networks) == (1, 1)
    with raises(C.PERMISSION_DENIED):
        net.UpdateNetworkQuotas(
            npb.UpdateNetworkQuotasRequest(
                quotas=npb.NetworkQuotas(project_id=t.project_id),
                update_mask=field_mask_pb2.FieldMask(paths=["limits.ports"]),
            ),
            metadata=t.metadata,
        )


def test_list_pages_and_filters(net, networks, cloud):
    t = cloud.tenant()
    made = [networks.network(t.metadata, f"n{i}") for i in range(5)]
    seen, token = [], ""
    for _ in range(10):
        page = net.ListNetworks(
            npb.ListNetworksRequest(page_size=2, page_token=token), metadata=t.metadata
        )
        seen += [n.id for n in page.networks]
        token = page.next_page_token
        if not token:
            break
    assert seen == [n.id for n in made]
    named = net.ListNetworks(npb.ListNetworksRequest(name="n3"), metadata=t.metadata).networks
    assert [n.id for n in named] == [made[3].id]
    with raises(C.INVALID_ARGUMENT, field="page_token"):
        net.ListNetworks(npb.ListNetworksRequest(page_token="forged"), metadata=t.metadata)
    with raises(C.INVALID_ARGUMENT, field="page_size"):
        net.ListNetworks(npb.ListNetworksRequest(page_size=-1), metadata=t.metadata)


# -- subnets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"cidr": "10.0.0.0/33"}, "subnet.cidr"),
        ({"cidr": "10.0.0.5/24"}, "subnet.cidr"),
        ({"cidr": "not-a-cidr"}, "subnet.cidr"),
        ({"cidr": "10.0.0.0"}, "subnet.cidr"),
        ({"cidr": "10.0.0.0/24", "ip_version": 6}, "subnet.cidr"),
        ({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.1.1"}, "subnet.gateway_ip"),
        ({"cidr": "10.0.0.0/24", "gateway_ip": "fd00::1"}, "subnet.gateway_ip"),
        (
            {
                "cidr": "10.0.0.0/24",
                "allocation_pools": [npb.AllocationPool(start="10.0.0.10", end="10.0.1.5")],
            },
            "subnet.allocation_pools[0]",
        ),
        (
            {
                "cidr": "10.0.0.0/24",
                "allocation_pools": [npb.AllocationPool(start="10.0.0.20", end="10.0.0.10")],
            },
            "subnet.allocation_pools[0]",
        ),
        (
            {
                "cidr": "10.0.0.0/24",
                "allocation_pools": [npb.AllocationPool(start="10.0.0.1", end="10.0.0.9")],
            },
            "subnet.allocation_pools[0]",
        ),
        (
            {
                "cidr": "10.0.0.0/24",
                "allocation_pools": [
                    npb.AllocationPool(start="10.0.0.10", end="10.0.0.50"),
                    npb.AllocationPool(start="10.0.0.40", end="10.0.0.60"),
                ],
            },
            "subnet.allocation_pools",
        ),
        ({"cidr": "10.0.0.0/24", "dns_nameservers": ["8.8.8"]}, "subnet.dns_nameservers[0]"),
        (
            {
                "cidr": "10.0.0.0/24",
                "host_routes": [npb.HostRoute(destination="10.1.0.0/16", nexthop="x")],
            },
            "subnet.host_routes[0].nexthop",
        ),
    ],
)
def test_bad_subnet_input_names_the_field_and_changes_nothing(net, tenant, lan, fields, field):
    n, _ = lan
    before = _snapshot(net, tenant.metadata, n.id)
    with raises(C.INVALID_ARGUMENT, field=field):
        net.CreateSubnet(
            npb.CreateSubnetRequest(subnet=npb.Subnet(network_id=n.id, **fields)),
            metadata=tenant.metadata,
        )
    assert _snapshot(net, tenant.metadata, n.id) == before


def test_overlapping_cidrs_are_refused_on_one_network_but_allowed_across(
    networks, net, tenant, lan, cloud
):
    n, _ = lan
    with raises(C.INVALID_ARGUMENT, "SUBNET_OVERLAPS", field="subnet.cidr"):
        networks.subnet(tenant.metadata, n.id, "10.9.0.128/25")
    other = cloud.tenant()
    theirs = networks.network(other.metadata, "theirs")
    assert networks.subnet(other.metadata, theirs.id, "10.9.0.0/24").cidr == "10.9.0.0/24"


def test_ipv6_subnets_and_explicit_pools(networks, tenant, lan):
    n, _ = lan
    v6 = networks.subnet(tenant.metadata, n.id, "fd00:9::/64")
    assert (v6.ip_version, v6.gateway_ip) == (6, "fd00:9::1")
    other = networks.network(tenant.metadata, "pools")
    s = networks.subnet(
        tenant.metadata,
        other.id,
        "192.168.5.0/24",
        gateway_ip="192.168.5.254",
        allocation_pools=[npb.AllocationPool(start="192.168.5.100", end="192.168.5.101")],
        dns_nameservers=["192.168.5.2"],
        host_routes=[npb.HostRoute(destination="10.20.0.0/16", nexthop="192.168.5.3")],
        enable_dhcp=False,
    )
    assert (s.gateway_ip, s.enable_dhcp, list(s.dns_nameservers)) == (
        "192.168.5.254",
        False,
        ["192.168.5.2"],
    )
    ips = [networks.port(tenant.metadata, other.id).fixed_ips[0].ip_address for _ in range(2)]
    assert ips == ["192.168.5.100", "192.168.5.101"]
    with raises(C.RESOURCE_EXHAUSTED, "IP_ADDRESSES_EXHAUSTED"):
        networks.port(tenant.metadata, other.id)


def test_a_subnet_without_gateway(networks, tenant):
    n = networks.network(tenant.metadata, "nogw")
    s = networks.subnet(tenant.metadata, n.id, "10.50.0.0/30", no_gateway=True)
    assert s.gateway_ip == "" and s.no_gateway
    assert [(p.start, p.end) for p in s.allocation_pools] == [("10.50.0.1", "10.50.0.2")]


def test_deleting_a_subnet_in_use_is_refused(networks, net, tenant, lan):
    n, s = lan
    networks.port(tenant.metadata, n.id)
    with raises(C.FAILED_PRECONDITION, "SUBNET_IN_USE"):
        net.DeleteSubnet(npb.DeleteSubnetRequest(id=s.id), metadata=tenant.metadata)


def test_update_subnet_gateway_and_dns(net, tenant, lan):
    _, s = lan
    with raises(C.INVALID_ARGUMENT, field="subnet.gateway_ip"):
        net.UpdateSubnet(
            npb.UpdateSubnetRequest(
                subnet=npb.Subnet(id=s.id, gateway_ip="10.9.0.50"),
                update_mask=field_mask_pb2.FieldMask(paths=["gateway_ip"]),
            ),
            metadata=tenant.metadata,
        )
    updated = net.UpdateSubnet(
        npb.UpdateSubnetRequest(
            subnet=npb.Subnet(id=s.id, dns_nameservers=["10.9.0.1"], name="renamed"),
            update_mask=field_mask_pb2.FieldMask(paths=["dns_nameservers", "name"]),
        ),
        metadata=tenant.metadata,
    )
    assert (list(updated.dns_nameservers), updated.name) == (["10.9.0.1"], "renamed")


# -- ports -------------------------------------------------------------------------------


def test_a_fixed_ip_outside_the_subnet_or_in_use_or_the_gateway_is_refused(
    networks, net, tenant, lan
):
    n, s = lan
    first = networks.port(tenant.metadata, n.id, fixed_ips=[npb.FixedIp(ip_address="10.9.0.77")])
    assert first.fixed_ips[0].ip_address == "10.9.0.77"
    before = _snapshot(net, tenant.metadata, n.id)
    with raises(C.ALREADY_EXISTS, "IP_ADDRESS_IN_USE"):
        networks.port(tenant.metadata, n.id, fixed_ips=[npb.FixedIp(ip_address="10.9.0.77")])
    for bad, field in (
        (npb.FixedIp(ip_address="10.99.0.5"), "port.fixed_ips[0].ip_address"),
        (npb.FixedIp(subnet_id=s.id, ip_address="10.99.0.5"), "port.fixed_ips[0].ip_address"),
        (npb.FixedIp(subnet_id=s.id, ip_address="10.9.0.1"), "port.fixed_ips[0].ip_address"),
        (npb.FixedIp(subnet_id=s.id, ip_address="10.9.0.255"), "port.fixed_ips[0].ip_address"),
        (npb.FixedIp(ip_address="garbage"), "port.fixed_ips[0].ip_address"),
        (
            npb.FixedIp(subnet_id="00000000-0000-0000-0000-000000000000"),
            "port.fixed_ips[0].subnet_id",
        ),
    ):
        with raises(C.INVALID_ARGUMENT, field=field):
            networks.port(tenant.metadata, n.id, fixed_ips=[bad])
    assert _snapshot(net, tenant.metadata, n.id) == before


def test_a_mac_in_use_on_the_network_is_refused_but_fine_on_another(networks, net, tenant, lan):
    n, _ = lan
    networks.port(tenant.metadata, n.id, mac_address="fa:16:3e:00:00:01")
    before = _snapshot(net, tenant.metadata, n.id)
    with raises(C.ALREADY_EXISTS, "MAC_ADDRESS_IN_USE"):
        networks.port(tenant.metadata, n.id, mac_address="FA:16:3E:00:00:01")
    for bad in ("01:00:5e:00:00:01", "zz:16:3e:00:00:01", "00:00:00:00:00:00"):
        with raises(C.INVALID_ARGUMENT, field="port.mac_address"):
            networks.port(tenant.metadata, n.id, mac_address=bad)
    assert _snapshot(net, tenant.metadata, n.id) == before
    other = networks.network(tenant.metadata, "other")
    networks.subnet(tenant.metadata, other.id, "10.8.0.0/24")
    assert networks.port(tenant.metadata, other.id, mac_address="fa:16:3e:00:00:01")


def test_port_security_groups_and_address_pairs(networks, net, tenant, lan):
    n, _ = lan
    plain = networks.port(tenant.metadata, n.id)
    (default_id,) = plain.security_group_ids
    group = net.CreateSecurityGroup(
        npb.CreateSecurityGroupRequest(security_group=npb.SecurityGroup(name="web")),
        metadata=tenant.metadata,
    )
    port = networks.port(
        tenant.metadata,
        n.id,
        security_group_ids=[group.id],
        allowed_address_pairs=[npb.AddressPair(ip_address="10.9.0.200/32")],
    )
    assert list(port.security_group_ids) == [group.id]
    assert port.allowed_address_pairs[0].ip_address == "10.9.0.200"
    with raises(C.INVALID_ARGUMENT, field="port.security_group_ids"):
        networks.port(
            tenant.metadata, n.id, port_security_enabled=False, security_group_ids=[group.id]
        )
    with raises(C.INVALID_ARGUMENT, field="port.allowed_address_pairs"):
        networks.port(
            tenant.metadata,
            n.id,
            port_security_enabled=False,
            security_group_ids=[],
            allowed_address_pairs=[npb.AddressPair(ip_address="10.9.0.9")],
        )
    open_port = networks.port(tenant.metadata, n.id, port_security_enabled=False)
    assert list(open_port.security_group_ids) == [] and not open_port.port_security_enabled
    theirs = net.CreateSecurityGroup(
        npb.CreateSecurityGroupRequest(security_group=npb.SecurityGroup(name="x")),
        metadata=networks.cloud.tenant().metadata,
    )
    with raises(C.NOT_FOUND, "SECURITY_GROUP_NOT_FOUND"):
        networks.port(tenant.metadata, n.id, security_group_ids=[theirs.id])
    with raises(C.FAILED_PRECONDITION, "SECURITY_GROUP_IN_USE"):
        net.DeleteSecurityGroup(
            npb.DeleteSecurityGroupRequest(id=group.id), metadata=tenant.metadata
        )
    with raises(C.FAILED_PRECONDITION, "DEFAULT_SECURITY_GROUP"):
        net.DeleteSecurityGroup(
            npb.DeleteSecurityGroupRequest(id=default_id), metadata=tenant.metadata
        )


def test_update_port_fixed_ips_frees_the_old_address(networks, net, tenant, lan):
    n, s = lan
    port = networks.port(tenant.metadata, n.id, fixed_ips=[npb.FixedIp(ip_address="10.9.0.30")])
    moved = net.UpdatePort(
        npb.UpdatePortRequest(
            port=npb.Port(
                id=port.id, fixed_ips=[npb.FixedIp(subnet_id=s.id, ip_address="10.9.0.31")]
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["fixed_ips"]),
        ),
        metadata=tenant.metadata,
    )
    assert [f.ip_address for f in moved.fixed_ips] == ["10.9.0.31"]
    again = networks.port(tenant.metadata, n.id, fixed_ips=[npb.FixedIp(ip_address="10.9.0.30")])
    assert again.fixed_ips[0].ip_address == "10.9.0.30"


def test_a_deleted_port_s_address_returns_to_the_pool(networks, net, tenant):
    n = networks.network(tenant.metadata, "tiny")
    networks.subnet(tenant.metadata, n.id, "10.60.0.0/29")  # .2-.6: five addresses
    ports = [networks.port(tenant.metadata, n.id) for _ in range(5)]
    with raises(C.RESOURCE_EXHAUSTED, "IP_ADDRESSES_EXHAUSTED"):
        networks.port(tenant.metadata, n.id)
    net.DeletePort(npb.DeletePortRequest(id=ports[2].id), metadata=tenant.metadata)
    assert (
        networks.port(tenant.metadata, n.id).fixed_ips[0].ip_address
        == ports[2].fixed_ips[0].ip_address
    )


def test_port_filters(networks, net, tenant, lan):
    n, _ = lan
    a = networks.port(
        tenant.metadata, n.id, name="a", fixed_ips=[npb.FixedIp(ip_address="10.9.0.40")]
    )
    networks.port(tenant.metadata, n.id, name="b")
    assert [p.id for p in networks.ports(tenant.metadata, fixed_ip="10.9.0.40")] == [a.id]
    assert [p.id for p in networks.ports(tenant.metadata, mac_address=a.mac_address)] == [a.id]
    assert [p.id for p in networks.ports(tenant.metadata, name="a")] == [a.id]
    assert len(networks.ports(tenant.metadata, network_id=n.id)) == 2
    assert networks.ports(tenant.metadata, status=npb.PORT_STATUS_ACTIVE) == []


# -- security groups ---------------------------------------------------------------------


def test_the_default_group_is_neutron_s(net, cloud):
    t = cloud.tenant()
    groups = net.ListSecurityGroups(
        npb.ListSecurityGroupsRequest(), metadata=t.metadata
    ).security_groups
    (default,) = groups
    assert default.name == "default"
    rules = sorted((r.direction, r.ethertype, r.remote_group_id, r.protocol) for r in default.rules)
    assert rules == [
        (npb.RULE_DIRECTION_INGRESS, "IPv4", default.id, ""),
        (npb.RULE_DIRECTION_INGRESS, "IPv6", default.id, ""),
        (npb.RULE_DIRECTION_EGRESS, "IPv4", "", ""),
        (npb.RULE_DIRECTION_EGRESS, "IPv6", "", ""),
    ]
    with raises(C.INVALID_ARGUMENT, field="security_group.name"):
        net.CreateSecurityGroup(
            npb.CreateSecurityGroupRequest(security_group=npb.SecurityGroup(name="default")),
            metadata=t.metadata,
        )
    made = net.CreateSecurityGroup(
        npb.CreateSecurityGroupRequest(security_group=npb.SecurityGroup(name="web")),
        metadata=t.metadata,
    )
    assert sorted((r.direction, r.ethertype, r.remote_ip_prefix) for r in made.rules) == [
        (npb.RULE_DIRECTION_EGRESS, "IPv4", ""),
        (npb.RULE_DIRECTION_EGRESS, "IPv6", ""),
    ]


def _rule(net, md, group_id, **fields):
    return net.CreateSecurityGroupRule(
        npb.CreateSecurityGroupRuleRequest(
            security_group_rule=npb.SecurityGroupRule(security_group_id=group_id, **fields)
        ),
        metadata=md,
    )


def test_rules_are_checked_and_unique(net, tenant, cloud):
    g = net.CreateSecurityGroup(
        npb.CreateSecurityGroupRequest(security_group=npb.SecurityGroup(name="g")),
        metadata=tenant.metadata,
    )
    ssh = _rule(
        net,
        tenant.metadata,
        g.id,
        direction=npb.RULE_DIRECTION_INGRESS,
        protocol="tcp",
        port_range_min=22,
        port_range_max=22,
        remote_ip_prefix="10.0.0.5/24",
    )
    assert (ssh.remote_ip_prefix, ssh.ethertype) == ("10.0.0.0/24", "IPv4")
    with raises(C.ALREADY_EXISTS, "SECURITY_GROUP_RULE_EXISTS"):
        _rule(
            net,
            tenant.metadata,
            g.id,
            direction=npb.RULE_DIRECTION_INGRESS,
            protocol="tcp",
            port_range_min=22,
            port_range_max=22,
            remote_ip_prefix="10.0.0.0/24",
        )
    ping = _rule(net, tenant.metadata, g.id, direction=npb.RULE_DIRECTION_INGRESS, protocol="icmp")
    assert (ping.port_range_min, ping.port_range_max) == (-1, -1)
    for fields, field in (
        ({"protocol": "tcp"}, "security_group_rule.direction"),
        (
            {"direction": npb.RULE_DIRECTION_INGRESS, "protocol": "gre!"},
            "security_group_rule.protocol",
        ),
        (
            {
                "direction": npb.RULE_DIRECTION_INGRESS,
                "protocol": "tcp",
                "port_range_min": 80,
                "port_range_max": 22,
            },
            "security_group_rule.port_range_min",
        ),
        (
            {
                "direction": npb.RULE_DIRECTION_INGRESS,
                "protocol": "tcp",
                "port_range_min": 0,
                "port_range_max": 70000,
            },
            "security_group_rule.port_range_min",
        ),
        (
            {"direction": npb.RULE_DIRECTION_INGRESS, "port_range_min": 22, "port_range_max": 22},
            "security_group_rule.port_range_min",
        ),
        (
            {"direction": npb.RULE_DIRECTION_INGRESS, "remote_ip_prefix": "fd00::/8"},
            "security_group_rule.remote_ip_prefix",
        ),
        (
            {
                "direction": npb.RULE_DIRECTION_INGRESS,
                "remote_ip_prefix": "10.0.0.0/8",
                "remote_group_id": g.id,
            },
            "security_group_rule.remote_ip_prefix",
        ),
        (
            {"direction": npb.RULE_DIRECTION_INGRESS, "ethertype": "IPv5"},
            "security_group_rule.ethertype",
        ),
    ):
        with raises(C.INVALID_ARGUMENT, field=field):
            _rule(net, tenant.metadata, g.id, **fields)
    other = cloud.tenant()
    with raises(C.NOT_FOUND, "SECURITY_GROUP_NOT_FOUND"):
        _rule(net, other.metadata, g.id, direction=npb.RULE_DIRECTION_INGRESS)
    with raises(C.NOT_FOUND, "SECURITY_GROUP_RULE_NOT_FOUND"):
        net.DeleteSecurityGroupRule(
            npb.DeleteSecurityGroupRuleRequest(id=ssh.id), metadata=other.metadata
        )
    net.DeleteSecurityGroupRule(
        npb.DeleteSecurityGroupRuleRequest(id=ssh.id), metadata=tenant.metadata
    )
    listed = net.ListSecurityGroupRules(
        npb.ListSecurityGroupRulesRequest(security_group_id=g.id), metadata=tenant.metadata
    ).security_group_rules
    assert [r.id for r in listed if r.protocol == "tcp"] == []
