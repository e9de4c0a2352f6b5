"""Layer 2: a Linux bridge per network with ports here, its uplink (a VXLAN device whose
flood list is the peers' tunnel addresses, a VLAN sub-interface, or the mapped interface of
a flat network; a mapped bridge is used as it is), and the guests' taps on their bridges.

Measure, then act: every pass reads the kernel's devices and changes only what differs, so
applying the same state twice does nothing the second time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from compute_node.network import names
from compute_node.network.model import Network, NetworkState, NetworkType, PortStatus
from compute_node.network.runner import CommandError, Runner

LOG = logging.getLogger(__name__)
VXLAN_PORT = 4789
FLOOD_MAC = "00:00:00:00:00:00"  # a VXLAN FDB entry for unknown and broadcast destinations


class NetworkUnavailable(Exception):
    """This node cannot carry the network (no mapping for its physical network, no tunnel
    address): its ports here are in ERROR with this message."""


@dataclass(frozen=True)
class LinkSettings:
    tunnel_ip: str = ""
    physical_network_mappings: tuple[tuple[str, str], ...] = ()  # (physical network, device)
    vxlan_port: int = VXLAN_PORT

    def device_for(self, physical_network: str) -> str | None:
        return dict(self.physical_network_mappings).get(physical_network)


@dataclass(frozen=True)
class Plugged:
    """What a pass did for each port, and which bridge each network is on."""

    ports: dict[str, tuple[PortStatus, str]]
    bridges: dict[str, str]  # network id -> bridge
    uplinks: dict[str, str]  # network id -> the device that leaves this host ("" for none)


class Links:
    def __init__(self, runner: Runner, settings: LinkSettings):
        self.runner = runner
        self.settings = settings

    def apply(self, state: NetworkState) -> Plugged:
        devices = self._devices()
        wanted: set[str] = set()
        bridges: dict[str, str] = {}
        uplinks: dict[str, str] = {}
        failed: dict[str, str] = {}
        used = {p.network_id for p in state.ports}
        for network in state.networks:
            if network.network_id not in used:
                continue
            try:
                bridge, uplink, made = self._network(network, devices)
            except (NetworkUnavailable, CommandError) as exc:
                failed[network.network_id] = str(exc)
                LOG.warning("network %s: %s", network.network_id, exc)
                continue
            bridges[network.network_id] = bridge
            uplinks[network.network_id] = uplink
            wanted.update(made)
        ports = {}
        for port in state.ports:
            ports[port.port_id] = self._plug(port, bridges, failed, devices)
        self._remove_unwanted(devices, wanted, state)
        return Plugged(ports=ports, bridges=bridges, uplinks=uplinks)

    # -- reading -------------------------------------------------------------------------

    def _devices(self) -> dict[str, dict]:
        return {d["ifname"]: d for d in self.runner.json("ip", "-j", "-d", "link", "show")}

    @staticmethod
    def _kind(device: dict) -> str:
        return device.get("linkinfo", {}).get("info_kind", "")

    @staticmethod
    def _ours(device: dict) -> bool:
        return device.get("ifalias", "").startswith(names.ALIAS_PREFIX)

    # -- networks ------------------------------------------------------------------------

    def _network(self, network: Network, devices: dict) -> tuple[str, str, list[str]]:
        """(bridge, uplink, devices made for it)."""
        if network.network_type is NetworkType.VXLAN:
            if not self.settings.tunnel_ip:
                raise NetworkUnavailable("this node has no [network] tunnel_ip for VXLAN")
            bridge = self._bridge(network, devices)
            uplink = self._vxlan(network, bridge, devices)
            self._flood_list(uplink, network.vxlan_peers)
            return bridge, uplink, [bridge, uplink]
        device = self.settings.device_for(network.physical_network)
        if device is None:
            raise NetworkUnavailable(
                f"physical network {network.physical_network!r} is not mapped on this node"
            )
        if device not in devices:
            raise NetworkUnavailable(f"device {device!r} of {network.physical_network!r} is absent")
        if network.network_type is NetworkType.FLAT and self._kind(devices[device]) == "bridge":
            return device, "", []  # a bridge the host made (the all-in-one's): used as it is
        bridge = self._bridge(network, devices)
        if network.network_type is NetworkType.VLAN:
            uplink = self._vlan(network, device, bridge, devices)
            return bridge, uplink, [bridge, uplink]
        self._enslave(device, bridge, devices)
        return bridge, device, [bridge]

    def _create(self, name: str, network: Network, devices: dict, *spec: str) -> dict:
        """Makes the device unless one of ours with this name exists; a foreign device of
        the same name is an error, never taken over."""
        device = devices.get(name)
        if device is not None and not self._ours(device):
            raise NetworkUnavailable(f"device {name} exists and is not this node's wiring")
        if device is None:
            self.runner.run("ip", "link", "add", name, *spec)
            self.runner.run(
                "ip", "link", "set", "dev", name, "alias", names.alias(network.network_id)
            )
            device = {"ifname": name, "mtu": 0, "flags": []}
            devices[name] = device
        return device

    def _set(self, name: str, device: dict, mtu: int, master: str | None = None) -> None:
        args = []
        if master is not None and device.get("master") != master:
            args += ["master", master]
        if mtu and device.get("mtu") != mtu:
            args += ["mtu", str(mtu)]
        if "UP" not in device.get("flags", []):
            args += ["up"]
        if args:
            self.runner.run("ip", "link", "set", "dev", name, *args)

    def _bridge(self, network: Network, devices: dict) -> str:
        name = names.bridge(network.network_id)
        device = self._create(name, network, devices, "type", "bridge")
        self._set(name, device, network.mtu)
        return name

    def _vxlan(self, network: Network, bridge: str, devices: dict) -> str:
        name = names.vxlan(network.segmentation_id)
        existing = devices.get(name)
        if existing is not None and self._ours(existing):
            data = existing.get("linkinfo", {}).get("info_data", {})
            if data.get("id") != network.segmentation_id or data.get("local") != (
                self.settings.tunnel_ip
            ):
                self.runner.run("ip", "link", "del", name)
                del devices[name]
        device = self._create(
            name,
            network,
            devices,
            "type",
            "vxlan",
            "id",
            str(network.segmentation_id),
            "local",
            self.settings.tunnel_ip,
            "dstport",
            str(self.settings.vxlan_port),
        )
        self._set(name, device, network.mtu, master=bridge)
        return name

    def _flood_list(self, vxlan: str, peers: tuple[str, ...]) -> None:
        entries = self.runner.json("bridge", "-j", "fdb", "show", "dev", vxlan)
        current = {e.get("dst") for e in entries if e.get("mac") == FLOOD_MAC and e.get("dst")}
        wanted = {p for p in peers if p and p != self.settings.tunnel_ip}
        for peer in sorted(wanted - current):
            self.runner.run("bridge", "fdb", "append", FLOOD_MAC, "dev", vxlan, "dst", peer)
        for peer in sorted(current - wanted):
            self.runner.run("bridge", "fdb", "del", FLOOD_MAC, "dev", vxlan, "dst", peer)

    def _vlan(self, network: Network, device: str, bridge: str, devices: dict) -> str:
        name = names.vlan(device, network.segmentation_id)
        spec = ("link", device, "type", "vlan", "id", str(network.segmentation_id))
        created = self._create(name, network, devices, *spec)
        self._set(name, created, network.mtu, master=bridge)
        return name

    def _enslave(self, device: str, bridge: str, devices: dict) -> None:
        self._set(device, devices[device], 0, master=bridge)

    # -- ports ---------------------------------------------------------------------------

    def _plug(self, port, bridges: dict, failed: dict, devices: dict) -> tuple[PortStatus, str]:
        if port.network_id in failed:
            return PortStatus.ERROR, failed[port.network_id]
        bridge = bridges.get(port.network_id)
        if bridge is None:
            return PortStatus.ERROR, f"network {port.network_id} is not in the state"
        tap = names.tap(port.port_id)
        device = devices.get(tap)
        if device is None:
            return PortStatus.DOWN, ""  # no guest interface (yet): plugged when it appears
        if not port.admin_state_up:
            if "UP" in device.get("flags", []):
                self.runner.run("ip", "link", "set", "dev", tap, "down")
            return PortStatus.DOWN, "administratively down"
        try:
            self._set(tap, device, port.mtu, master=bridge)
        except CommandError as exc:
            return PortStatus.ERROR, str(exc)
        return PortStatus.ACTIVE, ""

    def _remove_unwanted(self, devices: dict, wanted: set[str], state: NetworkState) -> None:
        ours = [n for n, d in devices.items() if self._ours(d) and n not in wanted]
        # Uplinks first, then bridges: a bridge's ports are released when it goes.
        for name in sorted(ours, key=lambda n: self._kind(devices[n]) == "bridge"):
            self.runner.run("ip", "link", "del", name, check=False)
        taps = {names.tap(p.port_id) for p in state.ports}
        bridges = {n for n, d in devices.items() if self._kind(d) == "bridge"}
        for name, device in devices.items():
            stale = name.startswith(names.TAP_PREFIX) and name not in taps
            if stale and device.get("master") in bridges and self._ours(devices[device["master"]]):
                self.runner.run("ip", "link", "set", "dev", name, "nomaster", check=False)
