"""The demo image booted through Stratus for the boot benchmark: a controller, a private
libvirtd and one `stratus-compute` agent as real processes on loopback; each boot is a
CreateServer with a key pair, timed to the end of the login banner in the console output the
compute API returns. Where the time went is read from the node's log: when the spawn
command arrived, and the `name=0.123s` phases the agent logs for each spawn."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from compute_node import phases
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

    def boot_to_banner(self, timeout: float) -> dict[str, float]:
        """Seconds from CreateServer to the banner's end on the console (`total`) and where
        they went (see `breakdown`); the server is deleted after."""
        created_at = time.time()
        total = self._boot(created_at, timeout)
        return self.breakdown(self.server_id, created_at, total)

    def _boot(self, created_at: float, timeout: float) -> float:
        started = time.monotonic()
        server_id = self.server_id = self.servers.create(
            self.flavor, self.image_id, key_name="bench"
        )
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

    def breakdown(self, server_id: str, created_at: float, total: float) -> dict[str, float]:
        """`total` split by the node's log lines about `server_id`: `to node` (CreateServer
        until the agent received the spawn), the spawn's phases (image fetch into the node
        cache, overlay, define, config drive, start), `node other` (the rest of the agent's
        spawn: journal, queue, lookups) and `guest boot` (the domain started until the banner
        was seen, including the console polling)."""
        marks: dict[str, float] = {}
        found: dict[str, float] = {}
        for line in self.node.log_path.read_text(errors="replace").splitlines():
            if server_id not in line:
                continue
            if f"spawn of {server_id}" in line:
                marks["received"] = _logged_at(line)
            elif f"images of {server_id} ready" in line or f"spawned {server_id}" in line:
                found.update(phases.parse(line))
                if "spawned" in line:
                    marks["spawned"] = _logged_at(line)
        if "received" not in marks or "spawned" not in marks:
            return {"total": total}
        spawn = marks["spawned"] - marks["received"]
        return {
            "total": total,
            "to node": marks["received"] - created_at,
            **found,
            "node other": spawn - sum(found.values()),
            "guest boot": created_at + total - marks["spawned"],
        }

    def _active(self, server_id: str) -> bool:
        return self.servers.get(server_id).status == cpb.SERVER_STATUS_ACTIVE

    def __exit__(self, *_exc) -> None:
        self.node.terminate()
        self.controller.stop()
        self.cloud.close()
        self.daemon.stop()


def _logged_at(line: str) -> float:
    """The wall-clock time of a node log line (`2026-01-02 03:04:05,678 INFO ...`)."""
    stamp = " ".join(line.split(" ", 2)[:2])
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").astimezone().timestamp()
