"""The dashboard in a real browser against a real controller and compute node: what a user
sees and does, and what an attacker cannot do."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from playwright.sync_api import expect

from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.identity.v1 import identity_service_pb2 as idpb
from stratus.image.v1 import image_service_pb2 as ipb
from tests.e2e.dashboard.conftest import CHROMIUM, screenshot, sign_in
from tests.support.cloud import unique
from tests.support.controller import ADMIN_PASSWORD

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")

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
    assert page.locator("#quotas meter").count() == 5
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


def test_the_admin_pages(stack, context):
    page = context.new_page()
    sign_in(page, stack.url, "admin", ADMIN_PASSWORD, "admin")
    assert page.locator("#admin-nav").is_visible()
    for name in ["projects", "users", "role-assignments", "flavors", "certificates"]:
        assert page.goto(f"{stack.url}/admin/{name}").status == 200, name
        assert page.locator("table.list tbody tr").count() >= 1, name
        screenshot(page, f"admin-{name}-desktop")
    page.goto(f"{stack.url}/admin/hypervisors")
    assert (
        page.locator(".hypervisor", has_text="node-1.dashboard.test").locator("meter").count() == 3
    )
    screenshot(page, "admin-hypervisors-desktop")

    # Disable the compute service with a reason, then enable it again.
    page.goto(f"{stack.url}/admin/services")
    row = page.locator("tr", has_text="node-1.dashboard.test")
    row.locator("input[name=reason]").fill("maintenance")
    row.locator("button[value='0']").click()
    page.wait_for_selector("tr:has-text('maintenance')")
    reply = stack.compute.ListComputeServices(
        cpb.ListComputeServicesRequest(), metadata=stack.cloud.admin
    )
    assert [s.status for s in reply.services] == [cpb.SERVICE_STATUS_DISABLED]
    screenshot(page, "admin-services-desktop")
    page.locator("tr", has_text="node-1.dashboard.test").locator("button[value='1']").click()
    page.wait_for_selector("tr:has-text('node-1.dashboard.test') button[value='0']")
    reply = stack.compute.ListComputeServices(
        cpb.ListComputeServicesRequest(), metadata=stack.cloud.admin
    )
    assert [s.status for s in reply.services] == [cpb.SERVICE_STATUS_ENABLED]


def test_a_forged_form_post_without_the_csrf_token_is_refused(stack, context):
    tenant = stack.cloud.tenant("member")
    page = context.new_page()
    sign_in(page, stack.url, tenant.user_name, tenant.password, tenant.project_name)
    form = {"name": "forged", "image_id": stack.public_image_id, "flavor_id": stack.flavor_id}
    # The browser's own cookies go with it, as they would with a cross-site form.
    forged = page.request.post(f"{stack.url}/servers/launch", form=form, max_redirects=0)
    assert forged.status == 403
    wrong = page.request.post(
        f"{stack.url}/servers/launch", form={**form, "csrftoken": "not-the-token"}, max_redirects=0
    )
    assert wrong.status == 403
    forged_key = page.request.post(
        f"{stack.url}/key-pairs", form={"name": "forged"}, max_redirects=0
    )
    assert forged_key.status == 403
    assert server_ids(stack, tenant) == set()
    keys = stack.compute.ListKeyPairs(cpb.ListKeyPairsRequest(), metadata=tenant.metadata)
    assert list(keys.key_pairs) == []


def test_cookies_hold_only_an_opaque_session_id(stack, context):
    tenant = stack.cloud.tenant("member")
    page = context.new_page()
    reply = page.goto(f"{stack.url}/login")
    assert "script-src 'self'" in reply.headers["content-security-policy"]
    sign_in(page, stack.url, tenant.user_name, tenant.password, tenant.project_name)
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["stratus_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert all(tenant.token not in c["value"] for c in cookies.values())
    assert tenant.user_id not in session["value"]


def test_sign_out_revokes_the_token(stack, context):
    tenant = stack.cloud.tenant("member")
    page = context.new_page()
    sign_in(page, stack.url, tenant.user_name, tenant.password, tenant.project_name)
    # A second tab follows the live server feed with the same session's token.
    watcher = context.new_page()
    watcher.goto(f"{stack.url}/servers")
    before = revocations(stack)
    page.click("#logout")
    page.wait_for_url(f"{stack.url}/login")
    assert revocations(stack) == before + 1
    # The controller ends the feed of a revoked token; the tab then finds itself signed out.
    watcher.wait_for_url(re.compile(re.escape(f"{stack.url}/login")), timeout=60_000)
    assert page.goto(f"{stack.url}/servers").url.startswith(f"{stack.url}/login")


def test_the_pages_speak_simplified_chinese_on_request(stack, context):
    tenant = stack.cloud.tenant("member")
    page = context.new_page()
    sign_in(page, stack.url, tenant.user_name, tenant.password, tenant.project_name)
    page.select_option("select[name=language]", "zh_CN")
    page.click("form.language button")
    page.wait_for_selector("nav >> text=云主机")
    assert page.locator("h1").inner_text() == "概览"
    screenshot(page, "overview-zh-desktop")
    # What the next page says about a form's outcome is in the user's language too.
    stack.compute.CreateKeyPair(
        cpb.CreateKeyPairRequest(key_pair=cpb.KeyPair(name="zh-key")), metadata=tenant.metadata
    )
    page.goto(f"{stack.url}/key-pairs")
    page.click("form[action='/key-pairs/zh-key/delete'] button")
    page.wait_for_selector("p.flash:has-text('密钥对已删除。')")


def revocations(stack) -> int:
    """Token revocation events in the controller's database."""
    with sqlite3.connect(stack.controller.directory / "stratus.db") as db:
        return db.execute("SELECT count(*) FROM token_revocation").fetchone()[0]


def test_lists_page_and_search_in_place(stack, context):
    tenant = stack.cloud.tenant("member")
    names = [f"page-image-{i:02d}" for i in range(23)]
    for name in names:
        stack.images.CreateImage(
            ipb.CreateImageRequest(image=ipb.Image(name=name)), metadata=tenant.metadata
        )
    page = context.new_page()
    sign_in(page, stack.url, tenant.user_name, tenant.password, tenant.project_name)
    page.goto(f"{stack.url}/images")
    assert page.locator("#list tbody tr").count() == 20
    shown = page.locator("#list tbody td:first-child").all_inner_texts()
    page.click("a[rel=next]")
    # The rest: the project's three last ones and the public images everyone sees.
    shown += page.locator("#list tbody td:first-child").all_inner_texts()
    assert sorted(n for n in shown if n.startswith("page-image-")) == names
    page.click("text=First page")
    assert page.locator("#list tbody tr").count() == 20

    # Typing in the search box replaces the list in place (htmx), with no page load.
    page.evaluate("() => { window.__notReloaded = true; }")
    page.fill("input[name=q]", "page-image-07")
    expect(page.locator("#list tbody tr")).to_have_count(1)
    assert page.locator("#list tbody").inner_text().strip().startswith("page-image-07")
    assert page.evaluate("window.__notReloaded") is True


def test_switching_project_and_sharing_an_image(stack, context):
    tenant = stack.cloud.tenant("member")
    second = stack.cloud.tenant("member")  # another project, where the same user gets a role
    roles = stack.cloud.identity.ListRoles(
        idpb.ListRolesRequest(name="member"), metadata=stack.cloud.admin
    ).roles
    stack.cloud.identity.AssignRole(
        idpb.AssignRoleRequest(
            user_id=tenant.user_id, project_id=second.project_id, role_id=roles[0].id
        ),
        metadata=stack.cloud.admin,
    )
    image = stack.images.CreateImage(
        ipb.CreateImageRequest(
            image=ipb.Image(name=unique("shared"), visibility=ipb.IMAGE_VISIBILITY_SHARED)
        ),
        metadata=tenant.metadata,
    )
    page = context.new_page()
    sign_in(page, stack.url, tenant.user_name, tenant.password, tenant.project_name)
    page.goto(f"{stack.url}/images/{image.id}")
    page.fill("input[name=project_id]", second.project_id)
    page.click("form[action$='/share'] button")
    page.wait_for_selector(f"li:has-text('{second.project_id}')")

    page.goto(f"{stack.url}/project")
    page.select_option("select[name=project]", second.project_name)
    page.fill("input[name=password]", tenant.password)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(f"{stack.url}/")
    assert second.project_name in page.locator(".who").inner_text()

    # In the other project, the shared image shows in lists once accepted.
    page.goto(f"{stack.url}/images")
    assert image.name not in page.locator("#list").inner_text()
    page.goto(f"{stack.url}/images/{image.id}")
    page.click("#membership button[value=accepted]")
    page.wait_for_selector("h2:has-text('accepted')")
    page.goto(f"{stack.url}/images")
    assert image.name in page.locator("#list").inner_text()


def test_a_refused_upload_says_why_and_leaves_no_image(stack, context, tmp_path):
    """A qcow2 with a backing file (CVE-2022-47951's class) is refused by the image service;
    the page shows its reason and the half-made image is gone."""
    tenant = stack.cloud.tenant("member")
    base, evil = tmp_path / "base.qcow2", tmp_path / "evil.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", base, "16M"], check=True)
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", evil], check=True
    )
    page = context.new_page()
    sign_in(page, stack.url, tenant.user_name, tenant.password, tenant.project_name)
    page.goto(f"{stack.url}/images")
    page.click("#upload-panel summary")
    page.fill("#upload-form input[name=name]", "evil")
    page.select_option("#upload-form select[name=disk_format]", "qcow2")
    page.set_input_files("#upload-form input[name=file]", str(evil))
    page.click("#upload-form button[type=submit]")
    expect(page.locator("#upload-status")).not_to_be_empty(timeout=60_000)
    assert "failed safety checks" in page.locator("#upload-status").inner_text()
    images = stack.images.ListImages(ipb.ListImagesRequest(name="evil"), metadata=tenant.metadata)
    assert list(images.images) == []


def test_an_admin_makes_a_project_and_a_user_who_then_signs_in(stack, context, browser):
    name, user_name, password = unique("proj"), unique("user"), "pw-" + unique("x")
    page = context.new_page()
    sign_in(page, stack.url, "admin", ADMIN_PASSWORD, "admin")
    admin_form(page, f"{stack.url}/admin/projects", "#create-project", name=name)
    page.wait_for_selector(f"td:text-is('{name}')")
    admin_form(page, f"{stack.url}/admin/users", "#create-user", name=user_name, password=password)
    page.wait_for_selector(f"td:text-is('{user_name}')")
    admin_form(
        page, f"{stack.url}/admin/role-assignments", "#assign-role", user=user_name, project=name
    )
    page.wait_for_selector("p.flash:has-text('Role assigned.')")
    screenshot(page, "admin-role-assignments-desktop")

    fresh = browser.new_context()
    newcomer = fresh.new_page()
    sign_in(newcomer, stack.url, user_name, password, name)
    assert name in newcomer.locator(".who").inner_text()
    fresh.close()


def admin_form(page, url: str, form: str, **fields: str) -> None:
    """Opens the folded form above an admin list, fills it in and sends it."""
    page.goto(url)
    page.click(f"details:has({form}) summary")
    for field, value in fields.items():
        page.fill(f"{form} input[name={field}]", value)
    page.click(f"{form} button[type=submit]")


def test_a_public_key_is_imported_and_deleted(stack, context):
    tenant = stack.cloud.tenant("member")
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    public = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    page = context.new_page()
    sign_in(page, stack.url, tenant.user_name, tenant.password, tenant.project_name)
    page.goto(f"{stack.url}/key-pairs")
    page.fill("#import-key input[name=name]", "laptop")
    page.fill("#import-key textarea[name=public_key]", public.decode() + " me@laptop")
    page.click("#import-key button[type=submit]")
    page.wait_for_selector("td:text-is('laptop')")
    (stored,) = stack.compute.ListKeyPairs(
        cpb.ListKeyPairsRequest(), metadata=tenant.metadata
    ).key_pairs
    assert stored.public_key.split()[:2] == public.decode().split()
    page.click("form[action='/key-pairs/laptop/delete'] button")
    page.wait_for_selector("text=No key pairs.")
