"""One reconciliation pass over the node's wiring, and the loop that runs passes.

A pass: firewall first (a tap is never on a bridge before its rules are in place), then
bridges, uplinks and taps, then DHCP. It runs when a NetworkState arrives (a state older
than the one applied is ignored), when a guest was spawned or destroyed (its tap came or
went), and every `interval` seconds (a tap libvirt made again after a restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from compute_node.network import names
from compute_node.network.dhcp import Dhcp, server_for
from compute_node.network.firewall import Firewall
from compute_node.network.links import Links, LinkSettings
from compute_node.network.model import (
    NetworkState,
    NetworkType,
    PortReport,
    PortStatus,
    StatusReport,
)
from compute_node.network.runner import CommandError, Runner

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class WiringSettings:
    links: LinkSettings
    state_dir: str  # dnsmasq's files, one directory per network
    interval: float = 10.0


class NetworkWiring:
    """Blocking; passes are serialised. Call from a worker thread."""

    def __init__(self, settings: WiringSettings, runner: Runner | None = None):
        self.settings = settings
        self.runner = runner or Runner()
        self.links = Links(self.runner, settings.links)
        self.firewall = Firewall(self.runner)
        self.dhcp = Dhcp(self.runner, os.path.join(settings.state_dir, "dhcp"))
        self.state: NetworkState | None = None
        self._applied = False  # this agent changed the host's wiring
        self._lock = threading.Lock()

    def apply(self, state: NetworkState) -> StatusReport | None:
        """Applies `state`; None when it is older than the one in place (ignored)."""
        with self._lock:
            if self.state is not None and state.revision < self.state.revision:
                LOG.info(
                    "network state %d ignored: %d applied", state.revision, self.state.revision
                )
                return None
            self.state = state
            return self._pass(state)

    def refresh(self) -> StatusReport | None:
        """The state in place applied again (taps may have come or gone)."""
        with self._lock:
            return None if self.state is None else self._pass(self.state)

    def _uplinks(self, state: NetworkState) -> list[str]:
        """The devices that leave this host, by name, before they exist."""
        found = []
        for network in state.networks:
            if network.network_type is NetworkType.VXLAN:
                found.append(names.vxlan(network.segmentation_id))
                continue
            device = self.settings.links.device_for(network.physical_network)
            if device is None:
                continue
            if network.network_type is NetworkType.VLAN:
                found.append(names.vlan(device, network.segmentation_id))
            else:
                found.append(device)
        return found

    def _pass(self, state: NetworkState) -> StatusReport:
        if not state.ports and not self._applied:
            # Nothing to wire and nothing wired by this agent: the host's tables and devices
            # are left alone (another agent may share this network namespace in tests).
            return StatusReport(revision=state.revision)
        self._applied = True
        try:
            self.firewall.apply(state, self._uplinks(state))
        except CommandError as exc:
            LOG.error("firewall for network state %d: %s", state.revision, exc)
            return _all(state, PortStatus.ERROR, f"firewall: {exc}")
        plugged = self.links.apply(state)
        statuses = dict(plugged.ports)
        servers = []
        for network in state.networks:
            bridge = plugged.bridges.get(network.network_id)
            server = bridge and server_for(state, network, bridge)
            if server:
                servers.append(server)
        try:
            self.dhcp.apply(servers)
        except (CommandError, OSError) as exc:
            LOG.error("DHCP for network state %d: %s", state.revision, exc)
            served = {s.network_id for s in servers}
            for port in state.ports:
                if port.network_id in served and statuses[port.port_id][0] is PortStatus.ACTIVE:
                    statuses[port.port_id] = (PortStatus.ERROR, f"DHCP: {exc}")
        return StatusReport(
            revision=state.revision,
            ports=tuple(
                PortReport(pid, status, detail) for pid, (status, detail) in statuses.items()
            ),
        )

    def close(self) -> None:
        """Stops the DHCP servers (guests keep their leases); bridges and rules stay, so
        guests keep their network while the agent is away."""
        self.dhcp.stop_all()


def _all(state: NetworkState, status: PortStatus, detail: str) -> StatusReport:
    return StatusReport(
        revision=state.revision,
        ports=tuple(PortReport(p.port_id, status, detail) for p in state.ports),
    )


class WiringLoop:
    """Runs passes off the event loop: the newest offered state wins, pokes coalesce, and a
    report goes out after every applied state and whenever a port's status changed."""

    def __init__(self, wiring: NetworkWiring, interval: float | None = None):
        self.wiring = wiring
        self.interval = wiring.settings.interval if interval is None else interval
        self._offered: NetworkState | None = None
        self._wake = asyncio.Event()
        self._last: dict[str, tuple[PortStatus, str]] = {}

    def offer(self, state: NetworkState) -> None:
        self._offered = state
        self._wake.set()

    def poke(self) -> None:
        self._wake.set()

    async def run(self, send: Callable[[StatusReport], Awaitable[None]]) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            state, self._offered = self._offered, None
            try:
                if state is not None:
                    report = await asyncio.to_thread(self.wiring.apply, state)
                else:
                    report = await asyncio.to_thread(self.wiring.refresh)
            except Exception:
                LOG.exception("network wiring pass failed")
                continue
            if report is None:
                continue
            now = {p.port_id: (p.status, p.detail) for p in report.ports}
            if state is not None or now != self._last:
                self._last = now
                await send(report)
