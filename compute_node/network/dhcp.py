"""DHCP for this node's own ports: one dnsmasq per network with ports here, bound to the
network's bridge, with a static host entry (MAC -> address) per port and no dynamic range,
so each node answers only for its own guests and no node is every guest's DHCP server.

dnsmasq needs an address of the subnet on the interface it serves. A bridge the host owns
(the all-in-one's) already has one; on the wiring's own bridges the server takes the
subnet's network address (`10.0.0.0` of `10.0.0.0/24`), which IPAM never hands out, as a
/32 (no route on the host, so two networks with the same CIDR on one node do not clash). The
firewall keeps that address and DHCP itself off the tunnels and uplinks (firewall.py).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from compute_node.network.firewall import identifier
from compute_node.network.model import Network, NetworkState, Subnet
from compute_node.network.runner import Runner

LOG = logging.getLogger(__name__)
LEASE_SECONDS = 86400


@dataclass(frozen=True)
class DhcpServer:
    network_id: str
    bridge: str
    subnets: tuple[Subnet, ...]
    hosts: tuple[str, ...]  # dnsmasq dhcp-host lines
    options: tuple[str, ...]  # dnsmasq dhcp-option lines


def _dhcp_subnets(network: Network) -> tuple[Subnet, ...]:
    return tuple(s for s in network.subnets if s.enable_dhcp and s.ip_version == 4)


def server_for(state: NetworkState, network: Network, bridge: str) -> DhcpServer | None:
    """What dnsmasq must know for one network; None when it needs no DHCP here."""
    subnets = _dhcp_subnets(network)
    if not subnets:
        return None
    by_id = {s.subnet_id: s for s in subnets}
    hosts = [
        f"{port.mac_address.lower()},{fixed.ip_address},{LEASE_SECONDS}"
        for port in state.ports
        if port.network_id == network.network_id
        for fixed in port.fixed_ips
        if fixed.subnet_id in by_id
    ]
    if not hosts:
        return None
    options = []
    for subnet in subnets:
        tag = f"tag:s_{identifier(subnet.subnet_id)}"
        routes = [f"{r.destination},{r.nexthop}" for r in subnet.host_routes]
        if subnet.gateway_ip:
            options.append(f"{tag},option:router,{subnet.gateway_ip}")
            if routes:  # a client that takes classless routes ignores the router option
                routes.append(f"0.0.0.0/0,{subnet.gateway_ip}")
        else:
            options.append(f"{tag},option:router")
        if routes:
            options.append(f"{tag},option:classless-static-route,{','.join(routes)}")
        if subnet.dns_nameservers:
            options.append(f"{tag},option:dns-server,{','.join(subnet.dns_nameservers)}")
        options.append(f"{tag},option:mtu,{network.mtu}")
    return DhcpServer(network.network_id, bridge, subnets, tuple(hosts), tuple(options))


class Dhcp:
    def __init__(self, runner: Runner, directory: str | os.PathLike):
        self.runner = runner
        self.directory = Path(directory)

    def apply(self, servers: list[DhcpServer]) -> None:
        wanted = {s.network_id: s for s in servers}
        for server in servers:
            self._serve(server)
        if self.directory.is_dir():
            for entry in self.directory.iterdir():
                if entry.name not in wanted:
                    self._stop(entry)
                    shutil.rmtree(entry, ignore_errors=True)

    def stop_all(self) -> None:
        if self.directory.is_dir():
            for entry in self.directory.iterdir():
                self._stop(entry)

    def _serve(self, server: DhcpServer) -> None:
        home = self.directory / server.network_id
        home.mkdir(parents=True, exist_ok=True)
        self._addresses(server)
        hosts_changed = _write(home / "hosts", "\n".join(server.hosts) + "\n")
        options_changed = _write(home / "options", "\n".join(server.options) + "\n")
        argv = self._argv(server, home)
        if _write(home / "argv", "\0".join(argv)) or not _running(home / "pid"):
            self._stop(home)
            self.runner.run(*argv)
            LOG.info("DHCP for network %s on %s started", server.network_id, server.bridge)
        elif hosts_changed or options_changed:
            os.kill(_pid(home / "pid"), signal.SIGHUP)  # dnsmasq reads both files again

    def _argv(self, server: DhcpServer, home: Path) -> list[str]:
        ranges = []
        for subnet in server.subnets:
            net = ipaddress.ip_network(subnet.cidr, strict=False)
            tag = f"set:s_{identifier(subnet.subnet_id)}"
            ranges.append(
                f"--dhcp-range={tag},{net.network_address},static,{net.netmask},{LEASE_SECONDS}"
            )
        return [
            "dnsmasq",
            "--conf-file=/dev/null",
            "--port=0",  # DHCP only
            # The agent's own user: the files are in its state directory. Started as root,
            # dnsmasq would switch to `nobody`; as the service user (stratus-compute.service)
            # it keeps that user and ignores this.
            "--user=root",
            f"--interface={server.bridge}",
            "--bind-interfaces",
            "--except-interface=lo",
            "--no-hosts",
            "--no-resolv",
            "--no-ping",
            *ranges,
            f"--dhcp-hostsfile={home / 'hosts'}",
            f"--dhcp-optsfile={home / 'options'}",
            f"--dhcp-leasefile={home / 'leases'}",
            f"--pid-file={home / 'pid'}",
            f"--log-facility={home / 'log'}",
            "--log-dhcp",
        ]

    def _addresses(self, server: DhcpServer) -> None:
        """An address of each subnet on the bridge: the host's own if it has one, else the
        subnet's network address as a /32."""
        links = self.runner.json("ip", "-j", "-4", "address", "show", "dev", server.bridge)
        present = [
            ipaddress.ip_address(a["local"])
            for link in links
            for a in link.get("addr_info", [])
            if a.get("family") == "inet"
        ]
        for subnet in server.subnets:
            net = ipaddress.ip_network(subnet.cidr, strict=False)
            if not any(address in net for address in present):
                self.runner.run(
                    "ip", "address", "add", f"{net.network_address}/32", "dev", server.bridge
                )

    def _stop(self, home: Path) -> None:
        pid = _pid(home / "pid")
        if pid and _running(home / "pid"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(FileNotFoundError):
            (home / "pid").unlink()


def _write(path: Path, text: str) -> bool:
    """Writes `text` unless the file holds it already; True when it changed."""
    with contextlib.suppress(FileNotFoundError):
        if path.read_text() == text:
            return False
    tmp = path.with_suffix(".new")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True


def _pid(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _running(path: Path) -> bool:
    pid = _pid(path)
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    return b"dnsmasq" in cmdline and str(path).encode() in cmdline
