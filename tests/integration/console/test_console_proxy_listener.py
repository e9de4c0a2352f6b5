"""The console proxy's listener on its own, with TLS: its pages and libraries over https, and
the checks a websocket meets before any token is looked at (a real listener on a free port;
nothing behind it is needed for these)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from controller.compute.consoleauth.config import ConsoleSection
from controller.console.proxy import NOVNC_DIRS, SPICE_DIRS, ConsoleProxy
from tests.support.ports import free_port


def self_signed(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "proxy.crt", directory / "proxy.key"
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
def proxy(tmp_path):
    cert, key = self_signed(tmp_path)
    port = free_port()
    settings = ConsoleSection(
        listen=f"127.0.0.1:{port}",
        tls_cert_file=str(cert),
        tls_key_file=str(key),
        max_connections=0,  # every websocket that passes the checks meets the limit
    )
    client = ssl.create_default_context(cafile=str(cert))

    async def run(scenario):
        proxy = ConsoleProxy(settings, db=None, conductor=None)
        await proxy.start()
        try:
            return await scenario(f"127.0.0.1:{port}", client)
        finally:
            await proxy.stop()

    return lambda scenario: asyncio.run(run(scenario))


def get(url: str, context) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, context=context, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, "", b""


def test_pages_and_libraries_over_https(proxy):
    async def scenario(host, context):
        def fetch(path):
            return get(f"https://{host}{path}", context)

        pages = await asyncio.to_thread(
            lambda: [fetch(p) for p in ("/vnc.html", "/spice.html", "/console.js")]
        )
        assert [(status, kind) for status, kind, _ in pages] == [
            (200, "text/html"),
            (200, "text/html"),
            (200, "text/javascript"),
        ]
        assert b"./novnc/core/rfb.js" in pages[0][2]
        if any(d.is_dir() for d in NOVNC_DIRS):
            status, kind, _ = await asyncio.to_thread(fetch, "/novnc/core/rfb.js")
            assert (status, kind) == (200, "text/javascript")
        if any(d.is_dir() for d in SPICE_DIRS):
            status, _, _ = await asyncio.to_thread(fetch, "/spice-html5/main.js")
            assert status == 200
        for path in ("/novnc/../../etc/passwd", "/novnc/%2e%2e/%2e%2e/etc/passwd", "/nothing"):
            status, _, _ = await asyncio.to_thread(fetch, path)
            assert status == 404, path

    proxy(scenario)


def test_websocket_checks_before_any_token(proxy):
    async def refused(url, context, **headers) -> int:
        with pytest.raises(InvalidStatus) as caught:
            async with connect(url, ssl=context, additional_headers=headers):
                pass
        return caught.value.response.status_code

    async def scenario(host, context):
        url = f"wss://{host}/websockify?token=anything"
        # An http page may not open this https proxy's consoles (Nova's scheme check).
        assert await refused(url, context, Origin=f"http://{host}") == 403
        assert await refused(url, context, Origin="https://elsewhere.example") == 403
        # The right origin passes the checks and meets the connection limit (0 here).
        assert await refused(url, context, Origin=f"https://{host}") == 503

    proxy(scenario)
