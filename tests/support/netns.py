"""Hosts in network namespaces on one switch, for multi-host tests: a namespace per host, and
one more holding the bridge they are all plugged into by veth pairs. Nothing is added to the
root namespace, so no packet of theirs can leave: each host sees only `eth0` on the switch
and its own loopback. Names carry the test process's pid; `close` removes them all (deleting
a namespace deletes its end of each veth pair, and so the pair).
"""

from __future__ import annotations

import os
import subprocess

SUBNET = "192.0.2"  # TEST-NET-1: never routed anywhere, and only inside these namespaces


def ip(*args: str, ns: str | None = None) -> None:
    command = ["ip", *(["-n", ns] if ns else []), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")


class Network:
    def __init__(self, hosts: list[str]):
        tag = f"{os.getpid()}"
        self.switch = f"st{tag}-sw"
        self.namespaces = {host: f"st{tag}-{host}" for host in hosts}
        self.addresses = {host: f"{SUBNET}.{i + 1}" for i, host in enumerate(hosts)}
        self._tag = tag
        self._made: list[str] = []

    def create(self, sysctls: dict[str, str] | None = None) -> Network:
        try:
            self._create(sysctls or {})
        except BaseException:
            self.close()
            raise
        return self

    def _create(self, sysctls: dict[str, str]) -> None:
        ip("netns", "add", self.switch)
        self._made.append(self.switch)
        ip("link", "add", "br0", "type", "bridge", ns=self.switch)
        ip("link", "set", "br0", "up", ns=self.switch)
        for i, (host, ns) in enumerate(self.namespaces.items()):
            ip("netns", "add", ns)
            self._made.append(ns)
            port = f"p{i}"  # the switch's end
            ip(
                "link",
                "add",
                port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
                ns=self.switch,
            )
            ip("link", "set", port, "master", "br0", ns=self.switch)
            ip("link", "set", port, "up", ns=self.switch)
            ip("link", "set", "lo", "up", ns=ns)
            ip("addr", "add", f"{self.addresses[host]}/24", "dev", "eth0", ns=ns)
            ip("link", "set", "eth0", "up", ns=ns)
            for key, value in sysctls.items():
                self.run(host, ["sysctl", "-q", "-w", f"{key}={value}"], check=True)

    def prefix(self, host: str) -> list[str]:
        """What runs a command on `host`."""
        return ["ip", "netns", "exec", self.namespaces[host]]

    def run(self, host: str, command: list[str], **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("timeout", 300)
        check = kwargs.pop("check", False)
        return subprocess.run([*self.prefix(host), *command], check=check, **kwargs)

    def link(self, host: str, up: bool) -> None:
        """Plugs `host`'s cable in or pulls it out, from inside the host."""
        ip("link", "set", "eth0", "up" if up else "down", ns=self.namespaces[host])

    def close(self) -> None:
        for ns in reversed(self._made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False, timeout=30)
        self._made.clear()
