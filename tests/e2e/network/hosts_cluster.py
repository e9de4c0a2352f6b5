"""A controller and two compute nodes, each a network namespace of its own made here: the
nodes reach the controller, and each other (VXLAN), over an underlay bridge inside the
controller's namespace; this test process reaches the controller's API over one veth pair
it made. Each node runs `stratus-compute` and a private libvirt daemon inside its namespace,
so the guests' taps, bridges, nftables rules and dnsmasq live there; nothing leaves the
namespaces."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from compute_node.drivers.libvirt.private_daemon import LibvirtDaemon
from tests.e2e.compute_node.e2e_support import ComputeProcess
from tests.integration.node_network.hosts import Lab, sh
from tests.support.cloud import Cloud
from tests.support.controller import ControllerProcess, prepare, write_config
from tests.support.ports import free_port

CONDUCTOR = (
    "[conductor]\nsweep_interval = 0.5\nstuck_task_grace = 2\n"
    "outbox_poll_interval = 0.5\nreport_interval = 1\n"
)


@dataclass(frozen=True)
class Endpoints:
    """What a node is told: the controller's listeners on the underlay."""

    address: str
    node_address: str


class HostsCluster:
    def __init__(self, base: Path):
        self.base = base
        self.lab = Lab()
        octet = os.getpid() % 200 + 20
        self.underlay = f"192.168.{octet}"
        self.client_link = f"169.254.{octet}"
        self.daemons: list[LibvirtDaemon] = []
        self.nodes: list[ComputeProcess] = []
        self.controller: ControllerProcess | None = None

    # -- namespaces ----------------------------------------------------------------------

    def _wire(self) -> None:
        lab = self.lab
        self.ctl = lab.namespace("ctl")
        sh("ip", "link", "add", "underlay", "type", "bridge", ns=self.ctl)
        sh("ip", "address", "add", f"{self.underlay}.1/24", "dev", "underlay", ns=self.ctl)
        sh("ip", "link", "set", "underlay", "up", ns=self.ctl)
        self.node_namespaces = []
        for i in (1, 2):
            ns = lab.namespace(f"n{i}")
            port = f"ul{i}"
            sh(
                "ip",
                "link",
                "add",
                port,
                "netns",
                self.ctl,
                "type",
                "veth",
                "peer",
                "eth0",
                "netns",
                ns,
            )
            sh("ip", "link", "set", port, "master", "underlay", "up", ns=self.ctl)
            sh("ip", "address", "add", f"{self.underlay}.{10 + i}/24", "dev", "eth0", ns=ns)
            sh("ip", "link", "set", "eth0", "up", ns=ns)
            self.node_namespaces.append(ns)
        # This test process's way to the API: one veth pair, a /30 of link-local addresses.
        self.client_veth = f"s{lab.tag}"[:15]
        sh("ip", "link", "add", self.client_veth, "type", "veth", "peer", "api", "netns", self.ctl)
        sh("ip", "address", "add", f"{self.client_link}.1/30", "dev", self.client_veth)
        sh("ip", "link", "set", self.client_veth, "up")
        sh("ip", "address", "add", f"{self.client_link}.2/30", "dev", "api", ns=self.ctl)
        sh("ip", "link", "set", "api", "up", ns=self.ctl)

    # -- processes -----------------------------------------------------------------------

    def start(self) -> HostsCluster:
        self._wire()
        directory = self.base / "controller"
        port, node_port = free_port(), free_port()
        config = write_config(
            directory,
            f"sqlite:///{directory}/stratus.db",
            listen=f"0.0.0.0:{port}",
            extra=(
                f'[ca]\nnode_listen = "0.0.0.0:{node_port}"\n'
                f'node_listener_ip_addresses = ["{self.underlay}.1"]\n{CONDUCTOR}'
            ),
        )
        prepare(config, public_url=f"grpc://{self.underlay}.1:{port}")
        self.controller = ControllerProcess(
            config, directory / "controller.log", prefix=("ip", "netns", "exec", self.ctl)
        ).start()
        self.cloud = Cloud(f"{self.client_link}.2:{port}")
        endpoints = Endpoints(f"{self.underlay}.1:{port}", f"{self.underlay}.1:{node_port}")
        for i, ns in enumerate(self.node_namespaces, start=1):
            daemon = LibvirtDaemon(self.base / f"libvirt-{i}")
            subprocess.run(
                ["ip", "netns", "exec", ns, sys.executable, "-m",
                 "compute_node.drivers.libvirt.private_daemon", "start", str(daemon.base)],
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
            self.daemons.append(daemon)
            node = ComputeProcess(
                self.base / f"node-{i}",
                f"node-{i}.network.test",
                endpoints,
                self.cloud,
                uri=daemon.uri,
                extra=f'[network]\ntunnel_ip = "{self.underlay}.{10 + i}"\n',
                prefix=("ip", "netns", "exec", ns),
            )
            node.config.write_text(
                node.config.read_text().replace(
                    "[compute]\n", f'[compute]\navailability_zone = "az{i}"\n'
                )
            )
            self.nodes.append(node.start(timeout=120))
        return self

    def close(self) -> None:
        for node in self.nodes:
            if node.running():
                node.terminate()
        for daemon in self.daemons:
            daemon.stop(shutdown_timeout=0)
        if self.controller is not None and self.controller.proc.poll() is None:
            self.controller.terminate()
        if hasattr(self, "cloud"):
            self.cloud.close()
        self.lab.close()
        if hasattr(self, "client_veth"):
            sh("ip", "link", "del", self.client_veth, check=False)
