"""Fixtures for all-in-ones that boot real guests."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def netns():
    """A network namespace of the test's own: the all-in-one's bridge, DHCP server and guests
    live there, and every packet stays there."""
    name = f"stratus-aio-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)


@pytest.fixture
def short_tmp():
    """A temporary directory with a short path: the private libvirt daemon's sockets live
    under it, and a UNIX socket's path has at most 107 bytes (pytest's tmp_path under xdist,
    `/tmp/pytest-of-root/pytest-N/popen-gwN/<test name>`, leaves too few)."""
    path = Path(tempfile.mkdtemp(prefix="aio-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
