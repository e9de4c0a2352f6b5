"""The CLI against a real controller and a real `stratus-compute` (libvirt's test driver, in a
private libvirt daemon so that this test can reach the node's hypervisor from outside, as an
operator could): what a user sees of a server's console and of its image."""

import os
import uuid

import libvirt
import pytest

from compute_node.drivers.libvirt.private_daemon import LibvirtDaemon, missing_tools
from tests.e2e.cli.conftest import Cli
from tests.e2e.compute_node.e2e_support import ComputeProcess, Controller
from tests.support.cloud import Cloud
from tests.support.controller import ADMIN_PASSWORD

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or bool(missing_tools()),
    reason="needs root and libvirtd for a private libvirt daemon",
)


def unique_name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def cloud_with_node(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli-guests")
    daemon = LibvirtDaemon(base / "libvirt", private_network=True).start()
    uri = f"test+unix:///default?socket={daemon.socket}"
    keeper = libvirt.open(uri)  # the test driver forgets its domains with its last client
    controller = Controller(base / "controller").start()
    cloud = Cloud(controller.address)
    node = ComputeProcess(base / "node", "node-1.cli.test", controller, cloud, uri=uri)
    try:
        node.start()
        yield controller, node, keeper
    finally:
        if node.running():
            node.terminate()
        controller.stop()
        cloud.close()
        keeper.close()
        daemon.stop()


@pytest.fixture(scope="module")
def booted(cloud_with_node, tmp_path_factory):
    """An admin's CLI, and a server booted from an image of its own: (cli, server, image)."""
    controller, _node, _keeper = cloud_with_node
    home = tmp_path_factory.mktemp("home")
    cli = Cli(
        home,
        {
            "STRATUS_URL": controller.address,
            "STRATUS_USERNAME": "admin",
            "STRATUS_PASSWORD": ADMIN_PASSWORD,
            "STRATUS_PROJECT": "admin",
        },
    )
    flavor, image, server = unique_name("m1"), unique_name("img"), unique_name("web")
    cli("flavor", "create", flavor, "--ram", "64", "--disk", "1")
    disk = home / "disk.raw"
    disk.write_bytes(b"\0" * (1 << 20))
    cli("image", "create", image, "--file", disk)
    cli("server", "create", server, "--flavor", flavor, "--image", image, "--wait")
    return cli, server, image


def test_the_console_log_says_when_it_is_empty_and_shows_what_the_guest_wrote(
    booted, cloud_with_node
):
    cli, server, _ = booted
    _, node, _ = cloud_with_node
    proc = cli("console", "log", "show", server)
    assert proc.stdout == ""
    assert proc.stderr == (
        f"stratus: the console log of server {server} is empty: its guest "
        "has written nothing to its serial console\n"
    )
    server_id = cli.value("server", "show", server, "-c", "id")
    log = node.directory / "state" / "instances" / server_id / "console.log"
    log.write_text("Welcome\nlogin: ")
    assert cli("console", "log", "show", server).stdout == "Welcome\nlogin: \n"


def test_server_list_shows_the_image_name(booted):
    cli, server, image = booted
    assert cli.json("server", "list", "--name", server, "-c", "Image") == [{"Image": image}]


def test_a_guest_missing_on_its_node_is_reported_as_such(booted, cloud_with_node):
    cli, server, _ = booted
    _, _, keeper = cloud_with_node
    server_id = cli.value("server", "show", server, "-c", "id")
    domain = keeper.lookupByUUIDString(server_id)
    domain.destroy()
    domain.undefine()  # behind the node's back
    proc = cli("console", "log", "show", server, expect=6)
    assert proc.stderr.startswith("stratus: UNAVAILABLE: console output failed: ")
    assert "The server's compute host reported this failure" in proc.stderr
    assert "controller is running" not in proc.stderr
