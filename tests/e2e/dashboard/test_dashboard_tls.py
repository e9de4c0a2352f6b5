"""`stratus-dashboard` over HTTPS: every cookie it sets is Secure, the session cookie is also
HttpOnly and SameSite=Strict and holds only an id, and browsers are told to stay on HTTPS."""

from __future__ import annotations

import datetime
import ipaddress

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.cloud import Cloud
from tests.support.controller import ControllerProcess, prepare, write_config
from tests.support.dashboard import DashboardProcess


def self_signed(directory):
    """A certificate for 127.0.0.1 and its key, as files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


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
