"""The demo image booted through Stratus for the boot benchmark: a controller, a private
libvirtd and one `stratus-compute` agent as real processes on loopback; each boot is a
CreateServer with a key pair, timed to the end of the login banner in the console output the
compute API returns."""

from __future__ import annotations

import time
from pathlib import Path

from compute_node.drivers.libvirt.private_daemon import LibvirtDaemon
from stratus.compute.v1 import compute_service_pb2 as cpb
from tests.e2e.compute_node.e2e_support import ComputeProcess, Controller
from tests.integration.compute_node.node_support import Servers, upload_image
from tests.support import demo_guest
from tests.support.cloud import Cloud


class StratusBoots:
    def __init__(self, directory: Path, image: Path, memory_mb: int):
        self.directory = directory
        self.image = image
        self.memory_mb = memory_mb

    def __enter__(self) -> StratusBoots:
        self.daemon = LibvirtDaemon(self.directory / "libvirt", private_network=True).start()
        self.controller = Controller(self.directory / "controller").start()
        self.cloud = Cloud(self.controller.address)
        self.node = ComputeProcess(
            self.directory / "node",
            "boot-bench.test",
            self.controller,
            self.cloud,
            uri=self.daemon.uri,
        ).start(timeout=120)
        self.servers = Servers(self.cloud)
        self.image_id = upload_image(self.cloud, self.image.read_bytes(), "qcow2")
        self.flavor = self.servers.flavor(vcpus=1, ram_mb=self.memory_mb, disk_gb=1)
        self.servers.stub.CreateKeyPair(
            cpb.CreateKeyPairRequest(key_pair=cpb.KeyPair(name="bench")),
            metadata=self.servers.tenant.metadata,
        )
        return self

    def boot_to_banner(self, timeout: float) -> float:
        """Seconds from CreateServer to the banner's end on the console; the server is
        deleted after."""
        started = time.monotonic()
        server_id = self.servers.create(self.flavor, self.image_id, key_name="bench")
        try:
            while time.monotonic() - started < timeout:
                output = (
                    self.servers.stub.GetConsoleOutput(
                        cpb.GetConsoleOutputRequest(server_id=server_id),
                        metadata=self.servers.cloud.admin,
                    ).output
                    if self._active(server_id)
                    else ""
                )
                if demo_guest.BANNER_END in output:
                    return time.monotonic() - started
                time.sleep(0.1)
            raise TimeoutError(f"no banner from server {server_id} after {timeout} s")
        finally:
            self.servers.delete(server_id)
            self.servers.wait_deleted(server_id, timeout=120)

    def _active(self, server_id: str) -> bool:
        return self.servers.get(server_id).status == cpb.SERVER_STATUS_ACTIVE

    def __exit__(self, *_exc) -> None:
        self.node.terminate()
        self.controller.stop()
        self.cloud.close()
        self.daemon.stop()
