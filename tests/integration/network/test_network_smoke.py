from stratus.network.v1 import network_service_pb2 as npb


def test_a_tenant_makes_a_network_subnet_and_port(cloud, networks, net):
    t = cloud.tenant()
    n = networks.network(t.metadata)
    assert n.network_type == npb.NETWORK_TYPE_VXLAN and n.segmentation_id >= 1000
    assert n.mtu == 1450
    s = networks.subnet(t.metadata, n.id)
    assert s.gateway_ip == "10.0.0.1"
    assert [(p.start, p.end) for p in s.allocation_pools] == [("10.0.0.2", "10.0.0.254")]
    p = networks.port(t.metadata, n.id)
    assert p.fixed_ips[0].ip_address == "10.0.0.2"
    assert p.mac_address.startswith("fa:16:3e:")
    assert len(p.security_group_ids) == 1
