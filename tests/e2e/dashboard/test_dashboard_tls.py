"""`stratus-dashboard` over HTTPS: every cookie it sets is Secure, the session cookie is also
HttpOnly and SameSite=Strict and holds only an id, and browsers are told to stay on HTTPS."""

from __future__ import annotations

import pytest
import requests

from tests.support.cloud import Cloud
from tests.support.controller import ControllerProcess, prepare, write_config
from tests.support.dashboard import DashboardProcess
from tests.support.tls import self_signed


@pytest.fixture
def https_dashboard(tmp_path):
    config = write_config(tmp_path / "controller", f"sqlite:///{tmp_path}/stratus.db")
    prepare(config)
    controller = ControllerProcess(config, tmp_path / "controller.log").start()
    cloud = Cloud(controller.address)
    tls = self_signed(tmp_path)
    dashboard = DashboardProcess(tmp_path / "dashboard", controller.address, tls=tls)
    try:
        yield dashboard.start(), cloud, tls[0]
    finally:
        dashboard.stop()
        cloud.close()
        controller.terminate()


def cookie_headers(response) -> dict[str, str]:
    headers = response.raw.headers.get_all("set-cookie") or []
    return {h.split("=", 1)[0]: h.lower() for h in headers}


def test_cookies_are_secure_under_tls(https_dashboard):
    dashboard, cloud, cert = https_dashboard
    assert dashboard.url.startswith("https://")
    tenant = cloud.tenant("member")
    browser = requests.Session()
    browser.verify = str(cert)
    browser.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise win over `verify`
    page = browser.get(f"{dashboard.url}/login", timeout=30)
    assert "max-age" in page.headers["strict-transport-security"]
    assert "; secure" in cookie_headers(page)["csrftoken"]
    signed_in = browser.post(
        f"{dashboard.url}/login",
        data={
            "csrftoken": browser.cookies["csrftoken"],
            "user": tenant.user_name,
            "password": tenant.password,
            "project": tenant.project_name,
        },
        allow_redirects=False,
        timeout=30,
    )
    assert signed_in.status_code == 303
    session = cookie_headers(signed_in)["stratus_session"]
    assert "; secure" in session and "httponly" in session and "samesite=strict" in session
    session_id = browser.cookies["stratus_session"]
    assert tenant.token not in session_id and tenant.user_id not in session_id
    assert browser.get(f"{dashboard.url}/", timeout=30).url == f"{dashboard.url}/"
