"""A real cloud for the browser tests: `stratus-controller`, one `stratus-compute` on libvirt's
test driver, `stratus-dashboard` as a child process, and Debian's Chromium driven by
Playwright (no browser download)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright import sync_api as playwright_api

from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.compute.v1 import compute_service_pb2_grpc as cpb_grpc
from stratus.image.v1 import image_service_pb2_grpc as ipb_grpc
from tests.e2e.compute_node.e2e_support import ComputeProcess, Controller
from tests.integration.compute_node.node_support import upload_image
from tests.support.chromium import CHROMIUM, CHROMIUM_FLAGS
from tests.support.cloud import Cloud, unique
from tests.support.dashboard import DashboardProcess
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[3]
# Where the screenshots are kept (CI keeps this folder as an artefact; README says so).
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


class Stack:
    def __init__(self, controller, cloud, dashboard, flavor_id, public_image_id, console_base):
        self.controller = controller
        self.console_base = console_base
        self.cloud = cloud
        self.dashboard = dashboard
        self.flavor_id = flavor_id
        self.public_image_id = public_image_id
        self.compute = cpb_grpc.ComputeServiceStub(cloud.channel)
        self.images = ipb_grpc.ImageServiceStub(cloud.channel)

    @property
    def url(self) -> str:
        return self.dashboard.url


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    base = tmp_path_factory.mktemp("dashboard")
    # The controller's console proxy, which the server page embeds.
    console_base = f"http://127.0.0.1:{free_port()}"
    controller = Controller(
        base / "controller", extra=f'[console]\nlisten = "{console_base.removeprefix("http://")}"\n'
    ).start()
    cloud = Cloud(controller.address)
    node = ComputeProcess(base / "node", "node-1.dashboard.test", controller, cloud)
    dashboard = DashboardProcess(base / "dashboard", controller.address)
    try:
        node.start()
        flavor = cpb_grpc.ComputeServiceStub(cloud.channel).CreateFlavor(
            cpb.CreateFlavorRequest(
                flavor=cpb.Flavor(name=unique("m1"), vcpus=1, ram_mb=256, disk_gb=1, is_public=True)
            ),
            metadata=cloud.admin,
        )
        public_image_id = upload_image(cloud, b"\0" * 65536, "raw")
        dashboard.start()
        yield Stack(controller, cloud, dashboard, flavor.id, public_image_id, console_base)
    finally:
        dashboard.stop()
        if node.running():
            node.terminate()
        controller.stop()
        cloud.close()


@pytest.fixture(scope="module")
def browser():
    """Chromium with a fresh, empty profile (Playwright makes one per launch)."""
    with playwright_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        yield instance
        instance.close()


@pytest.fixture
def context(browser):
    """A fresh browser profile's cookies: one user's browser."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    yield ctx
    ctx.close()


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page, url: str, user: str, password: str, project: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", password)
    page.fill("input[name=project]", project)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{url}/")
