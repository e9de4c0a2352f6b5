"""Consoles end to end, with real parts: a controller with its console proxy, a compute node
and the demo image booted under QEMU; noVNC and spice-html5 in headless Chromium, compared
with QEMU's own screendump; the serial console through the websocket; and every refusal, each
before a single byte of the guest's screen is sent.

Tests run in file order: the last one revokes the node's certificate."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import shutil
import sqlite3
import struct
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import grpc
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from stratus.ca.v1 import ca_service_pb2 as capb
from stratus.ca.v1 import ca_service_pb2_grpc as capb_grpc
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.e2e.console import browser
from tests.support.console_cloud import console_cloud
from tests.support.errors import raises
from tests.support.rfb import Rfb, WebSocketStream

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(
        shutil.which("qemu-system-x86_64") is None, reason="qemu-system-x86_64 is not installed"
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="the private libvirt daemon needs root"),
]
ROOT = Path(__file__).resolve().parents[3]
SHOT_TIMEOUT = 120
# Mean grey-level difference (0-255) between the browser's canvas and QEMU's screendump, both
# scaled to 360x200: scaling and the text cursor's blink stay well under it; another screen
# (a blank one, or other text) does not.
TOLERANCE = 6.0


@pytest.fixture(scope="module")
def cc(tmp_path_factory):
    with console_cloud(tmp_path_factory.mktemp("console")) as cloud:
        yield cloud


def websocket_url(url: str) -> str:
    """The websocket a console page connects to, from the page's URL."""
    parts = urllib.parse.urlsplit(url)
    return f"ws://{parts.netloc}/websockify?{parts.query}"


def serial(cc, command: str, expect: str, timeout: float = 60) -> str:
    """Types `command` into the guest's serial shell; what it printed up to `expect`."""
    console = cc.console(cpb.CONSOLE_TYPE_SERIAL)
    with connect(console.url) as ws:
        ws.send(b"\r" + command.encode() + b"\r")
        seen = b""
        deadline = time.monotonic() + timeout
        while expect.encode() not in seen:
            assert time.monotonic() < deadline, seen
            seen += ws.recv(timeout=timeout)
    return seen.decode(errors="replace")


def refused(url: str, **kwargs) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as caught:
        connect(url, **kwargs).close()
    return caught.value


def assert_no_console_bytes(refusal: InvalidStatus) -> None:
    assert b"RFB" not in refusal.response.body
    assert len(refusal.response.body) < 200  # a short reason, nothing of a screen


def shows_the_guest_screen(cc, url: str, canvas_selector: str, tmp_path) -> None:
    """Opens `url` in Chromium; its canvas matches QEMU's screendump and is not uniform."""
    with browser.chromium_page(tmp_path / "profile") as page:
        page.goto(url)
        canvas = page.locator(canvas_selector).first
        canvas.wait_for(timeout=SHOT_TIMEOUT * 1000)
        deadline = time.monotonic() + SHOT_TIMEOUT
        while True:
            shot = canvas.screenshot()
            dump = cc.screendump(cc.server_id, tmp_path / "dump.png").read_bytes()
            if browser.difference(shot, dump) < TOLERANCE or time.monotonic() > deadline:
                break
            time.sleep(1)
        (tmp_path / "canvas.png").write_bytes(shot)
        status = page.locator("#status").get_attribute("data-state")
    assert browser.spread(shot) > 10, f"the canvas is uniform: {tmp_path}"
    assert browser.difference(shot, dump) < TOLERANCE, tmp_path
    # A blank screen of the same size would not pass: the comparison can tell.
    assert browser.difference(shot, browser.blank_like(dump)) > TOLERANCE
    assert status == "connected"


def test_novnc_in_chromium_shows_what_qemu_shows(cc, tmp_path):
    # Text on the guest's screen (its VGA console), typed through the serial console.
    lines = "; ".join(f"echo 'stratus console line {n} ####' > /dev/tty0" for n in range(12))
    serial(cc, f"{lines}; echo written-$((40+2))", "written-42")
    console = cc.console(cpb.CONSOLE_TYPE_NOVNC)
    assert console.url.startswith(f"{cc.base}/vnc.html?token=")
    shows_the_guest_screen(cc, console.url, "#screen canvas", tmp_path)


def test_spice_html5_in_chromium_shows_what_qemu_shows(cc, tmp_path):
    console = cc.console(cpb.CONSOLE_TYPE_SPICE_HTML5)
    assert console.url.startswith(f"{cc.base}/spice.html?token=")
    shows_the_guest_screen(cc, console.url, "#spice-screen canvas", tmp_path)


def test_a_token_opens_one_connection_and_the_binary_subprotocol_is_served(cc):
    url = websocket_url(cc.console().url)
    with connect(url, subprotocols=["binary"]) as ws:
        assert ws.subprotocol == "binary"
        assert ws.recv(timeout=60) == b"RFB 003.008\n"
    refusal = refused(url)
    assert refusal.response.status_code == 401
    assert_no_console_bytes(refusal)
    # Only binary frames: a client asking only for base64 is refused (and uses its token).
    assert refused(websocket_url(cc.console().url), subprotocols=["base64"]).response.status_code


def test_an_expired_token_is_refused(cc):
    url = websocket_url(cc.console().url)
    # Time passing, as the token's row sees it: its expiry moved into the past.
    with sqlite3.connect(cc.controller.directory / "stratus.db") as db:
        db.execute("UPDATE console_token SET expires_at = '2000-01-01 00:00:00'")
    refusal = refused(url)
    assert refusal.response.status_code == 401
    assert_no_console_bytes(refusal)


def test_origin_and_path_checks(cc):
    host = f"127.0.0.1:{cc.proxy_port}"
    foreign = refused(
        websocket_url(cc.console().url), additional_headers={"Origin": "http://evil.example"}
    )
    assert foreign.response.status_code == 403
    assert_no_console_bytes(foreign)
    scheme = refused(
        websocket_url(cc.console().url), additional_headers={"Origin": f"https://{host}"}
    )
    assert scheme.response.status_code == 403
    assert cc.http_status("//evil.example/vnc.html") == 400
    assert cc.http_status("/novnc/../../../etc/passwd") == 404
    # The browser's own origin passes.
    with connect(
        websocket_url(cc.console().url), additional_headers={"Origin": f"http://{host}"}
    ) as ws:
        assert ws.recv(timeout=60).startswith(b"RFB")


def test_who_may_ask_for_a_console(cc):
    other = cc.cloud.tenant(role="member")
    with raises(grpc.StatusCode.NOT_FOUND, reason="SERVER_NOT_FOUND"):
        cc.console(metadata=other.metadata)
    reader = cc.cloud.tenant(role="reader", project_id=cc.servers.tenant.project_id)
    with raises(grpc.StatusCode.PERMISSION_DENIED):
        cc.console(metadata=reader.metadata)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="type"):
        cc.console(cpb.CONSOLE_TYPE_UNSPECIFIED)


def test_a_token_stops_working_when_its_users_access_is_gone(cc):
    member = cc.cloud.tenant(role="member", project_id=cc.servers.tenant.project_id)
    url = websocket_url(cc.console(metadata=member.metadata).url)
    identity = cc.cloud.identity
    role = identity.ListRoles(ipb.ListRolesRequest(name="member"), metadata=cc.cloud.admin)
    identity.UnassignRole(
        ipb.UnassignRoleRequest(
            user_id=member.user_id, project_id=member.project_id, role_id=role.roles[0].id
        ),
        metadata=cc.cloud.admin,
    )
    refusal = refused(url)
    assert refusal.response.status_code == 401
    assert_no_console_bytes(refusal)


def test_a_deleted_servers_token_is_refused(cc):
    server_id = cc.boot(wait_banner=False)
    url = websocket_url(cc.console(server_id=server_id).url)
    cc.servers.delete(server_id)
    cc.servers.wait_deleted(server_id, timeout=120)
    refusal = refused(url)
    assert refusal.response.status_code == 401
    assert_no_console_bytes(refusal)


def drain(websocket, timeout: float = 120) -> None:
    """Reads until the websocket closes (ConnectionClosed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        websocket.recv(timeout=timeout)


def read_until(fd: int, wanted: bytes, timeout: float = 120) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        assert left > 0, seen
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, seen
            seen += chunk
    return seen


def cli_env(cc) -> dict[str, str]:
    tenant = cc.servers.tenant
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cc.controller.directory),
        "PYTHONPATH": str(ROOT),
        "LANG": "C.UTF-8",
        "STRATUS_URL": cc.controller.address,
        "STRATUS_USERNAME": tenant.user_name,
        "STRATUS_PASSWORD": tenant.password,
        "STRATUS_PROJECT": tenant.project_name,
    }


def test_stratus_console_url_show(cc):
    def shown(flag):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "cli",
                "console",
                "url",
                "show",
                flag,
                cc.server_id,
                "-f",
                "json",
            ],
            cwd=ROOT,
            env=cli_env(cc),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return json.loads(proc.stdout)

    novnc, spice, serial_console = (shown(f) for f in ("--novnc", "--spice", "--serial"))
    assert novnc["url"].startswith(f"{cc.base}/vnc.html?token=")
    assert spice["url"].startswith(f"{cc.base}/spice.html?token=")
    assert serial_console["url"].startswith(f"ws://127.0.0.1:{cc.proxy_port}/websockify?token=")
    assert (novnc["type"], serial_console["type"]) == ("novnc", "serial")
    with connect(serial_console["url"]) as ws:  # the URL shown works, once
        ws.send(b"\r")
        assert ws.recv(timeout=60)
    assert refused(serial_console["url"]).response.status_code == 401


def test_stratus_console_connect_in_a_terminal(cc):
    env = cli_env(cc)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "console", "connect", cc.server_id],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    os.close(follower)
    try:
        read_until(leader, b"escape character is ^]")
        os.write(leader, b"\recho answer-$((6*7))\r")
        read_until(leader, b"answer-42")  # the guest's shell computed it: not an echo
        os.write(leader, b"\x1d")
        read_until(leader, b"Disconnected from server")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_a_client_that_does_not_read_holds_the_guest_back(cc):
    """300 full-screen updates asked for (over 300 MiB in raw encoding) and none read: the
    tunnel passes on only what its windows allow, so neither the controller nor the node
    holds the rest."""
    pids = (cc.controller.process.proc.pid, cc.node.proc.pid)
    before = [rss_mib(pid) for pid in pids]
    url = websocket_url(cc.console().url)

    async def flood() -> int:
        async with ws_connect(url, subprotocols=["binary"], max_queue=4) as websocket:
            rfb = Rfb(WebSocketStream(websocket))
            await rfb.handshake()
            frame = await rfb.update()  # one read, to know what an update weighs
            request = struct.pack(">BBHHHH", 3, 0, 0, 0, rfb.width, rfb.height)
            for _ in range(300):
                await websocket.send(request)
            await asyncio.sleep(20)  # the guest's updates pile up wherever they can
            return frame

    frame = asyncio.run(flood())
    assert frame > 1_000_000  # raw: each update is over a MB
    grown = [rss_mib(pid) - b for pid, b in zip(pids, before, strict=True)]
    assert max(grown) < 64, f"resident memory grew by {grown} MiB"


def test_a_revoked_node_certificate_ends_its_consoles_and_opens_no_more(cc):
    url = websocket_url(cc.console().url)
    ca = capb_grpc.CertificateAuthorityServiceStub(cc.cloud.channel)
    certificates = ca.ListCertificates(
        capb.ListCertificatesRequest(host_name=cc.node.host), metadata=cc.cloud.admin
    ).certificates
    assert certificates
    with connect(websocket_url(cc.console().url)) as open_console:
        assert open_console.recv(timeout=60).startswith(b"RFB")
        for certificate in certificates:
            ca.RevokeCertificate(
                capb.RevokeCertificateRequest(serial_number=certificate.serial_number),
                metadata=cc.cloud.admin,
            )
        # The open console ends with the node's stream...
        with pytest.raises(ConnectionClosed, match="stream ended"):
            drain(open_console)
    # ...and the node, refused, opens no new one.
    refusal = refused(url)
    assert refusal.response.status_code == 503
    assert_no_console_bytes(refusal)
