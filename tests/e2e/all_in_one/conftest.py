"""A network namespace for an all-in-one that boots real guests: its bridge, DHCP server and
guests live there, and every packet stays there."""

import os
import subprocess

import pytest


@pytest.fixture
def netns():
    name = f"stratus-aio-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)
