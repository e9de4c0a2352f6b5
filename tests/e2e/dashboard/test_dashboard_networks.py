"""Networks, security groups and consoles in the dashboard, in a real browser against a real
controller (its console proxy included) and a compute node on libvirt's test driver."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.network.v1 import network_service_pb2 as npb
from stratus.network.v1 import network_service_pb2_grpc as npb_grpc
from tests.e2e.dashboard.conftest import CHROMIUM, screenshot, sign_in
from tests.e2e.dashboard.test_dashboard_browser import XSS_NAME
from tests.support.controller import ADMIN_PASSWORD
from tests.support.dashboard import DashboardProcess

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")


def wait_active(stack, tenant, server_id: str) -> cpb.Server:
    for _ in range(240):
        server = stack.compute.GetServer(
            cpb.GetServerRequest(id=server_id), metadata=tenant.metadata
        )
        if server.status == cpb.SERVER_STATUS_ACTIVE:
            return server
        assert server.status != cpb.SERVER_STATUS_ERROR, server.fault.message
        time.sleep(0.5)
    raise AssertionError(f"server {server_id} never became ACTIVE")


def test_a_member_builds_a_network_and_a_group_and_launches_on_them(stack, context):
    tenant = stack.cloud.tenant("member")
    network_api = npb_grpc.NetworkServiceStub(stack.cloud.channel)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, stack.url, tenant.user_name, tenant.password, tenant.project_name)

    # A network (the hostile name stays text) and its subnet, from the pages.
    page.goto(f"{stack.url}/networks")
    assert page.locator("#create-network select[name=network_type]").count() == 0  # admins only
    page.click("#create-network-panel summary")
    page.fill("#create-network input[name=name]", XSS_NAME)
    page.click("#create-network button[type=submit]")
    page.wait_for_selector("#create-subnet")
    assert page.locator("h1 .network-name").inner_text() == XSS_NAME
    page.fill("#create-subnet input[name=name]", "dash-subnet")
    page.fill("#create-subnet input[name=cidr]", "10.20.0.0/24")
    page.fill("#create-subnet input[name=dns_nameservers]", "10.20.0.53")
    page.click("#create-subnet button[type=submit]")
    expect(page.locator("#subnets")).to_contain_text("10.20.0.0/24")
    screenshot(page, "network-desktop")
    (network,) = network_api.ListNetworks(
        npb.ListNetworksRequest(), metadata=tenant.metadata
    ).networks
    (subnet,) = network_api.ListSubnets(
        npb.ListSubnetsRequest(network_id=network.id), metadata=tenant.metadata
    ).subnets
    assert (network.name, subnet.cidr, list(subnet.dns_nameservers)) == (
        XSS_NAME,
        "10.20.0.0/24",
        ["10.20.0.53"],
    )
    # The network API searches by exact name.
    page.goto(f"{stack.url}/networks?{urlencode({'q': XSS_NAME})}")
    assert page.locator("#networks .network-name").inner_text() == XSS_NAME
    page.goto(f"{stack.url}/networks?q=img")
    assert page.locator("#networks .network-name").count() == 0

    # A security group and an ingress rule for SSH, from the pages.
    page.goto(f"{stack.url}/security-groups")
    page.fill("#create-group input[name=name]", "dash-web")
    page.click("#create-group button[type=submit]")
    page.wait_for_selector("#create-rule")
    page.select_option("#create-rule select[name=protocol]", "tcp")
    page.fill("#create-rule input[name=port_range_min]", "22")
    page.fill("#create-rule input[name=port_range_max]", "22")
    page.fill("#create-rule input[name=remote_ip_prefix]", "192.0.2.0/24")
    page.click("#create-rule button[type=submit]")
    expect(page.locator("#rules")).to_contain_text("192.0.2.0/24")
    screenshot(page, "security-group-desktop")
    group = next(
        g
        for g in network_api.ListSecurityGroups(
            npb.ListSecurityGroupsRequest(name="dash-web"), metadata=tenant.metadata
        ).security_groups
    )
    assert [
        (r.protocol, r.port_range_min, r.port_range_max, r.remote_ip_prefix)
        for r in group.rules
        if r.direction == npb.RULE_DIRECTION_INGRESS
    ] == [("tcp", 22, 22, "192.0.2.0/24")]

    # Bad input is refused with a reason and changes nothing.
    page.fill("#create-rule input[name=port_range_min]", "twenty")
    page.click("#create-rule button[type=submit]")
    expect(page.locator(".flash.error").first).to_be_visible()
    assert len(
        network_api.GetSecurityGroup(
            npb.GetSecurityGroupRequest(id=group.id), metadata=tenant.metadata
        ).rules
    ) == len(group.rules)

    # The overview counts the network against the project's quota.
    page.goto(f"{stack.url}/")
    assert page.locator("#quotas meter").count() == 5
    expect(page.locator("#quotas")).to_contain_text("Networks")

    # The wizard launches on that network, in that group; the server page shows its address
    # under the network and embeds its console.
    # A launch the controller refuses (a flavor that does not exist) leaves no port behind
    # for the groups chosen.
    page.goto(f"{stack.url}/servers/launch")
    page.fill("#launch-form input[name=name]", "refused-server")
    page.select_option("#launch-form select[name=image_id]", stack.public_image_id)
    page.evaluate(
        "() => { document.querySelector('select[name=flavor_id]').options[0].value"
        " = 'no-such-flavor'; }"
    )
    page.select_option("#launch-form select[name=flavor_id]", "no-such-flavor")
    page.select_option("#launch-form select[name=network_id]", network.id)
    page.check(f"#launch-form input[name=security_group_id][value='{group.id}']")
    page.click("#launch-form button[type=submit]")
    expect(page.locator(".flash.error")).to_be_visible()
    ports = network_api.ListPorts(
        npb.ListPortsRequest(network_id=network.id), metadata=tenant.metadata
    )
    assert list(ports.ports) == []

    page.goto(f"{stack.url}/servers/launch")
    page.fill("#launch-form input[name=name]", "dash-net-server")
    page.select_option("#launch-form select[name=image_id]", stack.public_image_id)
    page.select_option("#launch-form select[name=flavor_id]", stack.flavor_id)
    page.select_option("#launch-form select[name=network_id]", network.id)
    page.check(f"#launch-form input[name=security_group_id][value='{group.id}']")
    page.click("#launch-form button[type=submit]")
    page.wait_for_url(f"{stack.url}/servers")
    (server,) = stack.compute.ListServers(
        cpb.ListServersRequest(name="dash-net-server"), metadata=tenant.metadata
    ).servers
    server = wait_active(stack, tenant, server.id)
    (port,) = network_api.ListPorts(
        npb.ListPortsRequest(device_id=server.id), metadata=tenant.metadata
    ).ports
    assert list(port.security_group_ids) == [group.id]
    (address,) = [a.address for a in server.addresses]
    assert address.startswith("10.20.0.")

    response = page.goto(f"{stack.url}/servers/{server.id}")
    shown = page.locator("#addresses .network-addresses")
    assert shown.locator(".address").inner_text() == address
    assert page.locator("#addresses img").count() == 0
    frame = page.locator("iframe#console")
    src = frame.get_attribute("src")
    assert src.startswith(f"{stack.console_base}/vnc.html?token=")
    csp = response.headers["content-security-policy"]
    assert f"frame-src {stack.console_base}" in csp
    assert csp.count("frame-src") == 1
    # The frame holds the proxy's noVNC page (the same URL a real guest's test drives to its
    # screen on the console branch; this node's test driver has no display behind it).
    expect(page.frame_locator("iframe#console").locator("#screen")).to_have_count(1)
    screenshot(page, "server-network-console-desktop")
    # "Its own window" asks for a fresh URL (a token opens one connection only).
    window = page.request.get(f"{stack.url}/servers/{server.id}/console", max_redirects=0)
    assert window.status == 303
    assert window.headers["location"].startswith(f"{stack.console_base}/vnc.html?token=")
    assert window.headers["location"] != src
    assert dialogs == []

    # Other pages keep the strict policy: no frames at all.
    assert "frame-src" not in page.goto(f"{stack.url}/networks").headers["content-security-policy"]


def test_another_project_sees_none_of_it_and_admins_see_provider_fields(stack, context):
    owner = stack.cloud.tenant("member")
    network_api = npb_grpc.NetworkServiceStub(stack.cloud.channel)
    network = network_api.CreateNetwork(
        npb.CreateNetworkRequest(network=npb.Network(name="private-net")),
        metadata=owner.metadata,
    )
    stranger = stack.cloud.tenant("member")
    page = context.new_page()
    sign_in(page, stack.url, stranger.user_name, stranger.password, stranger.project_name)
    page.goto(f"{stack.url}/networks")
    assert page.locator(f"#network-{network.id}").count() == 0
    assert page.goto(f"{stack.url}/networks/{network.id}").status == 404
    # A forged delete without the CSRF token changes nothing.
    forged = page.request.post(f"{stack.url}/networks/{network.id}/delete", form={})
    assert forged.status == 403
    network_api.GetNetwork(npb.GetNetworkRequest(id=network.id), metadata=owner.metadata)
    page.close()

    admin = context.browser.new_context()
    try:
        page = admin.new_page()
        sign_in(page, stack.url, "admin", ADMIN_PASSWORD, "admin")
        page.goto(f"{stack.url}/networks/{network.id}")
        expect(page.locator("#network-type")).to_have_text("vxlan")
        assert page.locator("#segmentation-id").inner_text().isdigit()
        # An admin picks the segment: a VXLAN network with its own VNI, shared.
        page.goto(f"{stack.url}/networks")
        page.click("#create-network-panel summary")
        page.fill("#create-network input[name=name]", "admin-vxlan")
        page.select_option("#create-network select[name=network_type]", "vxlan")
        page.fill("#create-network input[name=segmentation_id]", "4242")
        page.check("#create-network input[name=shared]")
        page.click("#create-network button[type=submit]")
        expect(page.locator("#segmentation-id")).to_have_text("4242")
        (made,) = network_api.ListNetworks(
            npb.ListNetworksRequest(name="admin-vxlan"), metadata=stack.cloud.admin
        ).networks
        assert (made.network_type, made.segmentation_id, made.shared) == (
            npb.NETWORK_TYPE_VXLAN,
            4242,
            True,
        )
    finally:
        admin.close()


def test_a_console_url_off_the_configured_origin_is_not_embedded(stack, context, tmp_path):
    tenant = stack.cloud.tenant("member")
    server = stack.compute.CreateServer(
        cpb.CreateServerRequest(
            server=cpb.Server(
                name="elsewhere",
                image_id=stack.public_image_id,
                flavor_id=stack.flavor_id,
                no_network=True,
            )
        ),
        metadata=tenant.metadata,
    )
    wait_active(stack, tenant, server.id)
    # This dashboard embeds consoles from another origin than the proxy's.
    dashboard = DashboardProcess(tmp_path / "dashboard", stack.controller.address)
    dashboard.config.write_text(
        dashboard.config.read_text() + 'console_origin = "https://consoles.example.test"\n'
    )
    dashboard.start()
    try:
        page = context.new_page()
        sign_in(page, dashboard.url, tenant.user_name, tenant.password, tenant.project_name)
        response = page.goto(f"{dashboard.url}/servers/{server.id}")
        assert page.locator("iframe").count() == 0
        expect(page.locator("#console-unavailable")).to_be_visible()
        assert "frame-src" not in response.headers["content-security-policy"]
    finally:
        dashboard.stop()
