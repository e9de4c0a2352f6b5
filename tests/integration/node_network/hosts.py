"""Hosts and guests made of network namespaces, for the wiring tests: each "host" is a
namespace linked to the others by veth pairs on an underlay subnet; each "guest" is a
namespace whose eth0 is one end of a veth pair, the other end in its host under the tap
name libvirt would give the port's interface. Nothing leaves the namespaces made here."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid

from compute_node.network import names


def sh(*args: str, ns: str | None = None, check: bool = True, timeout: float = 30):
    argv = ["ip", "netns", "exec", ns, *args] if ns else list(args)
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout)


class Lab:
    def __init__(self):
        self.tag = f"{os.getpid() % 10000}{uuid.uuid4().hex[:4]}"
        self.namespaces: list[str] = []
        self.processes: list[subprocess.Popen] = []

    def namespace(self, role: str) -> str:
        name = f"sn{self.tag}{role}"
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "link", "set", "lo", "up", ns=name)
        return name

    def link_hosts(self, a: str, b: str, a_ip: str, b_ip: str, prefix: int = 24) -> None:
        left, right = f"u{self.tag}a", f"u{self.tag}b"
        sh("ip", "link", "add", left, "netns", a, "type", "veth", "peer", right, "netns", b)
        for ns, dev, ip in ((a, left, a_ip), (b, right, b_ip)):
            sh("ip", "link", "set", dev, "name", "underlay", ns=ns)
            sh("ip", "address", "add", f"{ip}/{prefix}", "dev", "underlay", ns=ns)
            sh("ip", "link", "set", "underlay", "up", ns=ns)

    def guest(self, host: str, port_id: str, mac: str, role: str) -> str:
        """A guest namespace plugged as `port_id` would be: its tap appears in `host`."""
        ns = self.namespace(role)
        tap = names.tap(port_id)
        tmp = f"g{self.tag}{role}"[:15]
        sh("ip", "link", "add", tmp, "netns", host, "type", "veth", "peer", "eth0", "netns", ns)
        sh("ip", "link", "set", tmp, "name", tap, ns=host)
        sh("ip", "link", "set", "eth0", "address", mac, ns=ns)
        sh("ip", "link", "set", "eth0", "up", ns=ns)
        return ns

    def background(self, ns: str, *args: str) -> subprocess.Popen:
        process = subprocess.Popen(
            ["ip", "netns", "exec", ns, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.processes.append(process)
        return process

    def close(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait(timeout=10)
        for ns in reversed(self.namespaces):
            # dnsmasq and other daemons started inside: ended before their namespace goes.
            pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 9)
            sh("ip", "netns", "del", ns, check=False)


def pings(ns: str, address: str, count: int = 2, source: str | None = None) -> bool:
    """True when at least one echo came back (each waits at most 2 s)."""
    extra = ["-I", source] if source else []
    done = sh("busybox", "ping", "-c", str(count), "-W", "2", *extra, address, ns=ns, check=False)
    return done.returncode == 0


def wait_until(predicate, deadline: float = 60.0, step: float = 0.2) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
