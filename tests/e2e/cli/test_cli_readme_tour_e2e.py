"""The README tried as a new user would: its run command, then the tour's commands as written.

`scripts/all-in-one up` starts a real controller and compute node (on libvirt's test driver,
the simulation: tests/e2e/all_in_one boots real guests and logs in over SSH) in a temporary
state directory; the shell blocks of the "Five-minute tour" section then run verbatim, in
order, in one bash, but for the cloud's name (the tour is written for the default port base,
this run takes a free one) and its `ssh` into the guest (nothing runs on the simulation), and
`scripts/all-in-one down` stops everything.
"""

import os
import random
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.e2e.cli.conftest import ROOT


def tour_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Five-minute tour", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def without_ssh(block: str) -> str:
    return "".join(line for line in block.splitlines(keepends=True) if not line.startswith("ssh "))


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_base() -> int:
    """Three free consecutive loopback ports: the public and the node listener, the console
    proxy."""
    for _ in range(100):
        port = random.randrange(20000, 40000)
        if all(_free(port + n) for n in range(3)):
            return port
    raise RuntimeError("no three free consecutive ports")


@pytest.fixture
def all_in_one(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "STRATUS_STATE_DIR": str(tmp_path / "state"),
        "STRATUS_PORT_BASE": str(port_base()),
        "STRATUS_SKIP_INSTALL": "1",
        "STRATUS_HYPERVISOR": "test",
    }
    for key in [
        k
        for k in env
        if k.startswith("STRATUS_")
        and k
        not in (
            "STRATUS_STATE_DIR",
            "STRATUS_PORT_BASE",
            "STRATUS_SKIP_INSTALL",
            "STRATUS_HYPERVISOR",
        )
    ]:
        del env[key]
    up = subprocess.run(
        [str(ROOT / "scripts" / "all-in-one"), "up"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        assert up.returncode == 0, (up.stdout, up.stderr)
        yield env, up.stdout
    finally:
        down = subprocess.run(
            [str(ROOT / "scripts" / "all-in-one"), "down"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert down.returncode == 0, (down.stdout, down.stderr)


def test_the_readme_runs_as_written(all_in_one, tmp_path):
    env, up_output = all_in_one
    assert f"admin password: {env['STRATUS_STATE_DIR']}/admin-password" in up_output
    assert "stratus server create first --flavor m1.tiny" in up_output
    cloud = f"all-in-one-{env['STRATUS_PORT_BASE']}"
    assert f"export STRATUS_CLOUD={cloud}\n" in up_output
    blocks = [
        without_ssh(b).replace("STRATUS_CLOUD=all-in-one\n", f"STRATUS_CLOUD={cloud}\n")
        for b in tour_blocks()
    ]
    assert len(blocks) >= 3 and "server create" in blocks[0]
    assert "ssh -i ~/.ssh/demo.pem root@" in tour_blocks()[1], "the tour logs in"
    work = tmp_path / "work"
    work.mkdir()
    # One shell for all blocks, as a reader typing them in one terminal.
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(blocks)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    output = proc.stdout + proc.stderr
    assert "server web: ACTIVE" in output
    assert "the console log of server web is empty" in output
    assert "server web: DELETED" in output
    assert Path(env["HOME"], ".ssh", "demo.pem").read_text().startswith("-----BEGIN")
    assert "| keystone " in output


def test_up_twice_is_safe_and_down_stops_everything(all_in_one):
    env, _ = all_in_one
    again = subprocess.run(
        [str(ROOT / "scripts" / "all-in-one"), "up"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert again.returncode == 0, (again.stdout, again.stderr)
    assert "controller already running" in again.stdout
    assert "compute node already running" in again.stdout
    assert f"admin password: {env['STRATUS_STATE_DIR']}/admin-password" in again.stdout
