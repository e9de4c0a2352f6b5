"""The server page's embedded console on a real guest: the demo image booted under QEMU
(software emulation) through a controller with its console proxy and a compute node with a
private libvirt daemon; the dashboard's page shows the guest's screen in its frame."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.console import browser
from tests.e2e.dashboard.conftest import CHROMIUM, screenshot, sign_in
from tests.support.console_cloud import console_cloud
from tests.support.dashboard import DashboardProcess

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")

SHOT_TIMEOUT = 120


def test_the_server_page_shows_the_guest_screen_in_its_console_frame(tmp_path, tmp_path_factory):
    # A short base: the private libvirt daemon's UNIX socket path must fit in 107 bytes.
    with console_cloud(tmp_path_factory.mktemp("cloud")) as cc:
        dashboard = DashboardProcess(tmp_path / "dashboard", cc.controller.address).start()
        try:
            tenant = cc.servers.tenant
            with browser.chromium_page(tmp_path / "profile") as page:
                sign_in(page, dashboard.url, tenant.user_name, tenant.password, tenant.project_name)
                response = page.goto(f"{dashboard.url}/servers/{cc.server_id}")
                assert f"frame-src {cc.base}" in response.headers["content-security-policy"]
                frame = page.frame_locator("iframe#console")
                status = frame.locator("#status")
                # Generous: the node opens the guest's VNC socket on a busy 2-core machine.
                expect(status).to_have_attribute(
                    "data-state", "connected", timeout=SHOT_TIMEOUT * 1000
                )
                canvas = frame.locator("#screen canvas").first
                canvas.wait_for(timeout=SHOT_TIMEOUT * 1000)
                deadline = time.monotonic() + SHOT_TIMEOUT
                shot = canvas.screenshot()
                while browser.spread(shot) <= 10 and time.monotonic() < deadline:
                    time.sleep(1)
                    shot = canvas.screenshot()
                (tmp_path / "canvas.png").write_bytes(shot)
                state = status.get_attribute("data-state")
                screenshot(page, "server-console-guest-desktop")
        finally:
            dashboard.stop()
    assert browser.spread(shot) > 10, f"the frame's canvas is uniform ({state}): {tmp_path}"
    assert state == "connected"
