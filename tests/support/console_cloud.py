"""For the console tests and benchmark: a cloud with a console proxy and one real guest: a
`stratus-controller` process with `[console] listen` set, a private libvirt daemon, one
`stratus-compute` process and the demo image booted under QEMU (software emulation) to its
login banner."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import libvirt

from compute_node.drivers.libvirt.private_daemon import LibvirtDaemon
from stratus.compute.v1 import compute_service_pb2 as cpb
from tests.e2e.compute_node.e2e_support import ComputeProcess, Controller, tear_down
from tests.integration.compute_node.node_support import Servers, upload_image
from tests.support import demo_guest
from tests.support.cloud import Cloud
from tests.support.ports import free_port

BOOT_TIMEOUT = 300


@dataclass
class ConsoleCloud:
    controller: Controller
    node: ComputeProcess
    daemon: LibvirtDaemon
    cloud: Cloud
    servers: Servers
    proxy_port: int
    image_id: str
    flavor_id: str
    server_id: str
    socket_dir: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    def console(self, console_type=cpb.CONSOLE_TYPE_NOVNC, server_id=None, metadata=None):
        return self.servers.stub.CreateConsole(
            cpb.CreateConsoleRequest(server_id=server_id or self.server_id, type=console_type),
            metadata=metadata or self.servers.tenant.metadata,
        )

    def boot(self, wait_banner: bool = True) -> str:
        server_id = self.servers.create(self.flavor_id, self.image_id)
        self.servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE, timeout=BOOT_TIMEOUT)
        if wait_banner:
            self.wait_console(server_id, demo_guest.BANNER_END)
        return server_id

    def wait_console(self, server_id: str, text: str, timeout: float = BOOT_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        output = ""
        while time.monotonic() < deadline:
            output = self.servers.stub.GetConsoleOutput(
                cpb.GetConsoleOutputRequest(server_id=server_id), metadata=self.cloud.admin
            ).output
            if text in output:
                return output
            time.sleep(1)
        raise AssertionError(f"{text!r} not on the console after {timeout} s: {output[-2000:]!r}")

    def screendump(self, server_id: str, path: Path) -> Path:
        """QEMU's own picture of the guest's screen (libvirt's screenshot), as a file."""
        conn = libvirt.open(self.daemon.uri)
        try:
            domain = conn.lookupByUUIDString(server_id)
            stream = conn.newStream(0)
            domain.screenshot(stream, 0, 0)
            with open(path, "wb") as out:
                stream.recvAll(lambda _stream, data, _: out.write(data), None)
            stream.finish()
        finally:
            conn.close()
        return path

    def http_status(self, path: str, headers: dict | None = None) -> int:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code


@contextlib.contextmanager
def console_cloud(base: Path, controller_extra: str = "", node_extra: str = ""):
    # A UNIX socket's path has at most 107 bytes: the consoles' sockets get a short one.
    socket_dir = Path(tempfile.mkdtemp(prefix="stratus-console-", dir="/tmp"))
    proxy_port = free_port()
    daemon = LibvirtDaemon(base / "libvirt", private_network=True).start()
    controller = Controller(
        base / "controller",
        extra=f'[console]\nlisten = "127.0.0.1:{proxy_port}"\n{controller_extra}',
    ).start()
    cloud = Cloud(controller.address)
    node = None
    try:
        node = ComputeProcess(
            base / "node",
            "console-node.e2e.test",
            controller,
            cloud,
            uri=daemon.uri,
            extra=f'[console]\nsocket_dir = "{socket_dir}"\n{node_extra}',
        ).start(timeout=120)
        servers = Servers(cloud)
        image_id = upload_image(cloud, demo_guest.demo_image().read_bytes(), "qcow2")
        flavor_id = servers.flavor(vcpus=1, ram_mb=256, disk_gb=1)
        found = ConsoleCloud(
            controller,
            node,
            daemon,
            cloud,
            servers,
            proxy_port,
            image_id,
            flavor_id,
            "",
            socket_dir,
        )
        found.server_id = found.boot()
        yield found
    finally:
        tear_down(node, controller, cloud, daemon)
        shutil.rmtree(socket_dir, ignore_errors=True)
