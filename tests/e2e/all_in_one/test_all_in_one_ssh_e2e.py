"""The README tour's last step, for real: `scripts/all-in-one up` inside a network namespace this
test creates (so its bridge, DHCP server and guest live there and every packet stays there),
the demo image booted with a key pair and user data on the provider network, then `ssh` from
the namespace to the address the guest's login banner shows (its port's, from the node's DHCP
server), as a user on the all-in-one's host would. `down` removes the bridge and the DHCP
server."""

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.all_in_one.all_in_one_support import AllInOne, qemu_skip_reason
from tests.support import demo_guest

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="no QEMU"),
]
USER_DATA = '#!/bin/sh\necho "hello from $(hostname)"\n'
SSH_ATTEMPTS = 10


def skip_reason() -> str | None:
    missing = [tool for tool in ("ip", "dnsmasq", "ssh") if shutil.which(tool) is None]
    return qemu_skip_reason() or (f"missing {', '.join(missing)}" if missing else None)


def in_netns(netns: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ip", "netns", "exec", netns, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ssh(netns: str, key, address: str, command: str) -> str:
    """`command` run in the guest over SSH, retried while dropbear may still be starting."""
    argv = [
        "ssh",
        "-i",
        str(key),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        f"root@{address}",
        command,
    ]
    for _ in range(SSH_ATTEMPTS):
        proc = in_netns(netns, *argv)
        if proc.returncode == 0:
            return proc.stdout
        time.sleep(2)
    raise AssertionError(f"ssh root@{address} failed: {proc.stderr}")


def test_a_user_on_the_host_logs_into_the_guest_with_its_key_pair(tmp_path, short_tmp, netns):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    aio = AllInOne(
        short_tmp, "qemu", netns=netns, STRATUS_GUEST_NAT="0", STRATUS_SHUTDOWN_TIMEOUT="3"
    )
    aio.state.mkdir()
    # Built outside the namespace (its packages come from Debian's mirror); `up` uploads it.
    shutil.copyfile(demo_guest.demo_image(), aio.state / "demo.qcow2")
    bridge = f"stratusbr{aio.port}"
    try:
        output = aio.run("up")
        assert f"guest network: bridge {bridge} 10.253." in output
        assert in_netns(netns, "ip", "link", "show", bridge).returncode == 0
        assert (
            subprocess.run(
                ["ip", "link", "show", bridge], capture_output=True, check=False
            ).returncode
            != 0
        ), "the bridge is only in the namespace"
        key = tmp_path / "demo.pem"
        aio.cli("keypair", "create", "demo", "--private-key", key)
        (tmp_path / "hello.sh").write_text(USER_DATA)
        aio.cli(
            "server",
            "create",
            "web",
            "--flavor",
            "m1.tiny",
            "--image",
            "demo",
            "--key-name",
            "demo",
            "--user-data",
            tmp_path / "hello.sh",
            "--wait",
        )

        banner = demo_guest.parse_banner(aio.wait_for_console("web", demo_guest.BANNER_END))
        assert len(banner.addresses) == 1, banner.lines
        interface, address = banner.addresses[0].split()
        address = address.split("/")[0]
        assert interface == "eth0" and address.startswith("10.253."), banner.lines
        # The address is the port's (IPAM), handed out by the node's DHCP server for the
        # provider network on the bridge.
        shown = aio.cli("server", "show", "web", "-f", "value", "-c", "addresses")
        assert address in shown, shown
        [leases] = (aio.state / "compute" / "network" / "dhcp").glob("*/leases")
        assert f" {address} " in leases.read_text(), "the node's DHCP server gave the address"
        assert not (aio.state / "network" / "dnsmasq.pid").exists(), "no dynamic DHCP server"

        hostname, user_data = ssh(
            netns, key, address, "hostname; cat /var/log/user-data.log"
        ).split("\n", 1)
        assert hostname == "web"
        assert "hello from web" in user_data

        dnsmasq_pid = leases.parent / "pid"
        dnsmasq = Path("/proc", dnsmasq_pid.read_text().strip())
        assert "dnsmasq" in (dnsmasq / "cmdline").read_text()
        aio.run("down")
        assert in_netns(netns, "ip", "link", "show", bridge).returncode != 0
        assert not dnsmasq_pid.exists() and not dnsmasq.exists()
    finally:
        aio.clean_up()
