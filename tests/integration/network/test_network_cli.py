"""The `stratus` commands of networking against the real controller, as the all-in-one and
the README's tour run them."""

import io
import json

from cli.main import main
from stratus.network.v1 import network_service_pb2 as npb


def stratus(cloud, token, *argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(["--url", cloud.address, "--token", token, *argv], env={}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def ok(cloud, token, *argv):
    code, out, err = stratus(cloud, token, *argv)
    assert code == 0, err
    return out


def test_the_all_in_one_s_provider_network_and_a_tenant_s_network(cloud, net):
    admin = cloud.admin_token
    made = json.loads(
        ok(
            cloud,
            admin,
            "network",
            "create",
            "provider-cli",
            "--share",
            "--provider-network-type",
            "flat",
            "--provider-physical-network",
            "cli-provider",
            "-f",
            "json",
        )
    )
    try:
        assert (made["provider:network_type"], made["shared"]) == ("flat", True)
        subnet = json.loads(
            ok(
                cloud,
                admin,
                "subnet",
                "create",
                "provider-cli",
                "--network",
                "provider-cli",
                "--subnet-range",
                "10.253.77.0/24",
                "--gateway",
                "10.253.77.1",
                "--allocation-pool",
                "start=10.253.77.10,end=10.253.77.254",
                "--dns-nameserver",
                "10.253.77.1",
                "-f",
                "json",
            )
        )
        assert subnet["allocation_pools"] == "10.253.77.10-10.253.77.254"
        assert subnet["gateway_ip"] == "10.253.77.1"
        t = cloud.tenant()
        listed = ok(cloud, t.token, "network", "list", "-f", "value", "-c", "Name")
        assert "provider-cli" in listed.split()
        port = json.loads(
            ok(
                cloud,
                t.token,
                "port",
                "create",
                "p1",
                "--network",
                "provider-cli",
                "--fixed-ip",
                "ip-address=10.253.77.20",
                "-f",
                "json",
            )
        )
        assert port["fixed_ips"].startswith("ip_address='10.253.77.20'")
        assert port["status"] == "DOWN"
        ok(
            cloud,
            t.token,
            "security",
            "group",
            "rule",
            "create",
            "default",
            "--protocol",
            "tcp",
            "--dst-port",
            "22",
            "--remote-ip",
            "10.253.77.0/24",
        )
        ok(
            cloud,
            t.token,
            "security",
            "group",
            "rule",
            "create",
            "default",
            "--protocol",
            "icmp",
            "--remote-ip",
            "10.253.77.0/24",
        )
        rules = ok(
            cloud,
            t.token,
            "security",
            "group",
            "rule",
            "list",
            "default",
            "-f",
            "value",
            "-c",
            "IP Protocol",
            "-c",
            "Port Range",
        )
        assert {"tcp 22:22", "icmp "} <= set(rules.splitlines())
        code, _, err = stratus(cloud, t.token, "network", "delete", "provider-cli")
        assert code != 0 and "NETWORK" in err.upper()
        ok(cloud, t.token, "port", "delete", "p1")
        assert ok(cloud, t.token, "port", "list", "-f", "value") == ""
    finally:
        for port in net.ListPorts(
            npb.ListPortsRequest(network_id=made["id"], all_projects=True), metadata=cloud.admin
        ).ports:
            net.DeletePort(npb.DeletePortRequest(id=port.id), metadata=cloud.admin)
        net.DeleteNetwork(npb.DeleteNetworkRequest(id=made["id"]), metadata=cloud.admin)


def test_tenant_network_subnet_set_and_show(cloud):
    t = cloud.tenant()
    ok(cloud, t.token, "network", "create", "lan")
    ok(
        cloud,
        t.token,
        "subnet",
        "create",
        "lan4",
        "--network",
        "lan",
        "--subnet-range",
        "192.168.44.0/24",
        "--no-dhcp",
    )
    ok(cloud, t.token, "subnet", "set", "lan4", "--dhcp", "--name", "lan-v4")
    shown = json.loads(ok(cloud, t.token, "subnet", "show", "lan-v4", "-f", "json"))
    assert (shown["enable_dhcp"], shown["cidr"]) == (True, "192.168.44.0/24")
    network = json.loads(ok(cloud, t.token, "network", "show", "lan", "-f", "json"))
    assert network["provider:network_type"] == "vxlan" and network["mtu"] == 1450
    ok(cloud, t.token, "network", "set", "lan", "--name", "lan2", "--disable")
    assert (
        json.loads(ok(cloud, t.token, "network", "show", "lan2", "-f", "json"))["status"] == "DOWN"
    )
    code, _, err = stratus(
        cloud,
        t.token,
        "subnet",
        "create",
        "bad",
        "--network",
        "lan2",
        "--subnet-range",
        "10.0.0.5/24",
    )
    assert code != 0 and "subnet.cidr" in err
