"""The dashboard in a real browser against a real controller and compute node: what a user
sees and does, and what an attacker cannot do."""

from __future__ import annotations

from pathlib import Path

from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.image.v1 import image_service_pb2 as ipb
from tests.e2e.dashboard.conftest import screenshot, sign_in
from tests.support.cloud import unique

XSS_NAME = "<img src=x onerror=alert(1)>"
PHONE = {"width": 390, "height": 844}
# A page records what the test wants to know about it while it runs (set through the
# DevTools protocol, which the page's Content-Security-Policy does not govern).
RECORD_PROGRESS = """() => {
  const bar = document.getElementById('upload-progress');
  new MutationObserver(() => window.reportProgress(Number(bar.value)))
    .observe(bar, {attributes: true, attributeFilter: ['value']});
}"""


def server_ids(stack, tenant) -> set[str]:
    reply = stack.compute.ListServers(cpb.ListServersRequest(), metadata=tenant.metadata)
    return {s.id for s in reply.servers}


def test_a_member_uploads_launches_watches_live_and_deletes(stack, context, tmp_path):
    tenant = stack.cloud.tenant("member")
    dialogs = []
    page = context.new_page()
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, stack.url, tenant.user_name, tenant.password, tenant.project_name)
    assert page.locator("#quotas meter").count() == 4
    screenshot(page, "overview-desktop")

    # Upload: the progress bar moves through values between 0 and 100 before the list shows
    # the new, active image.
    data = tmp_path / "disk.raw"
    data.write_bytes(b"\0" * (48 * 1024 * 1024))
    page.goto(f"{stack.url}/images")
    page.click("#upload-panel summary")
    page.fill("#upload-form input[name=name]", "dash-image")
    page.set_input_files("#upload-form input[name=file]", str(data))
    progress: list[float] = []
    # A Python function, not a bound builtin: Playwright tags the callable it is given.
    page.expose_function("reportProgress", lambda value: progress.append(value))  # noqa: PLW0108
    page.evaluate(RECORD_PROGRESS)
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(f"{stack.url}/images", timeout=180_000)
    page.wait_for_selector("text=dash-image")
    assert any(0 < value < 100 for value in progress), progress
    assert progress[-1] == 100
    row = page.locator("tr", has_text="dash-image")
    assert "active" in row.inner_text()
    screenshot(page, "images-desktop")

    # Key pair: the private key is a download, once.
    page.goto(f"{stack.url}/key-pairs")
    page.fill("#create-key input[name=name]", "dash-key")
    with page.expect_download() as download:
        page.click("#create-key button[type=submit]")
    assert "PRIVATE KEY" in Path(download.value.path()).read_text()
    page.goto(f"{stack.url}/key-pairs")
    assert page.locator("td", has_text="dash-key").count() == 1
    screenshot(page, "key-pairs-desktop")

    # The server list is open in one tab while the wizard launches from another: the new row
    # appears and turns ACTIVE live, with no reload of the list's page.
    servers = context.new_page()
    servers.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    servers.goto(f"{stack.url}/servers")
    servers.evaluate("() => { window.__notReloaded = true; }")
    page.goto(f"{stack.url}/servers/launch")
    page.fill("#launch-form input[name=name]", XSS_NAME)
    page.select_option("#launch-form select[name=image_id]", label="dash-image")
    page.select_option("#launch-form select[name=flavor_id]", stack.flavor_id)
    page.select_option("#launch-form select[name=key_name]", "dash-key")
    page.fill("#launch-form textarea[name=user_data]", "#cloud-config\n")
    screenshot(page, "launch-desktop")
    page.click("#launch-form button[type=submit]")
    page.wait_for_url(f"{stack.url}/servers")
    (server_id,) = server_ids(stack, tenant)
    row = servers.locator(f"#server-{server_id}")
    row.wait_for(timeout=60_000)
    servers.wait_for_selector(f"#server-{server_id}[data-status=ACTIVE]", timeout=120_000)
    assert servers.evaluate("window.__notReloaded") is True
    # The hostile name is text: no element was made of it, no script ran.
    assert row.locator(".server-name").inner_text() == XSS_NAME
    assert servers.locator("#servers img").count() == 0
    screenshot(servers, "servers-desktop")

    page.goto(f"{stack.url}/servers/{server_id}")
    assert page.locator("h1 .server-name").inner_text() == XSS_NAME
    screenshot(page, "server-desktop")
    page.goto(f"{stack.url}/servers/{server_id}/console-log")
    assert page.locator("pre.console").count() == 1

    # Phone width: the same pages fold to one column.
    phone = context.new_page()
    phone.set_viewport_size(PHONE)
    for name, path in [("overview", "/"), ("servers", "/servers"), ("images", "/images")]:
        phone.goto(f"{stack.url}{path}")
        screenshot(phone, f"{name}-phone")
    assert phone.locator(".menu-button").is_visible()
    phone.close()

    page.goto(f"{stack.url}/servers/{server_id}")
    page.click("#delete-server")
    page.wait_for_url(f"{stack.url}/servers")
    servers.wait_for_selector(f"#server-{server_id}", state="detached", timeout=120_000)
    assert servers.evaluate("window.__notReloaded") is True
    assert dialogs == []


def test_a_member_sees_no_admin_pages_and_no_other_project(stack, context):
    tenant = stack.cloud.tenant("member")
    other = stack.cloud.tenant("member")
    foreign_image, foreign_server = unique("foreign-image"), unique("foreign-server")
    stack.images.CreateImage(
        ipb.CreateImageRequest(image=ipb.Image(name=foreign_image)), metadata=other.metadata
    )
    stack.compute.CreateServer(
        cpb.CreateServerRequest(
            server=cpb.Server(
                name=foreign_server, flavor_id=stack.flavor_id, image_id=stack.public_image_id
            )
        ),
        metadata=other.metadata,
    )
    page = context.new_page()
    sign_in(page, stack.url, tenant.user_name, tenant.password, tenant.project_name)
    assert page.locator("#admin-nav").count() == 0
    for path in ["/admin/projects", "/admin/users", "/admin/hypervisors", "/admin/services"]:
        assert page.goto(f"{stack.url}{path}").status == 403, path
    assert page.goto(f"{stack.url}/images").status == 200
    assert foreign_image not in page.content()
    assert page.goto(f"{stack.url}/servers").status == 200
    assert foreign_server not in page.content()
