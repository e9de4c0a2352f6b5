"""`scripts/all-in-one` up, down and up again, for real: servers keep their states on the test
driver's simulation; with QEMU, `down` shuts the guest and the private libvirt daemon down
and `up` boots the same guest again."""

import os
import re
import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path

import libvirt
import pytest
import yaml

from compute_node.drivers.libvirt.private_daemon import LibvirtDaemon
from tests.e2e.all_in_one.all_in_one_support import AllInOne, qemu_skip_reason
from tests.support import guest_image

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="no qemu-img")


def password_path(output: str) -> str:
    match = re.search(r"admin password: (\S+)", output)
    assert match, output
    return match.group(1)


@pytest.fixture
def simulated(tmp_path):
    aio = AllInOne(tmp_path, "test")
    # Another all-in-one's entry, which this one must leave alone.
    aio.clouds_yaml.parent.mkdir(parents=True)
    aio.clouds_yaml.write_text(
        yaml.safe_dump(
            {
                "clouds": {
                    "all-in-one": {
                        "auth": {"auth_url": "grpc://127.0.0.1:5000", "password": "first-cloud's"}
                    }
                }
            }
        )
    )
    try:
        yield aio
    finally:
        aio.clean_up()


def test_down_and_up_keep_servers_and_their_states_on_the_simulation(simulated, tmp_path):
    aio = simulated
    # A first up that fails (the public port is taken) still leaves the password, 0600.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", aio.port))
        squatter.listen()
        failed = aio.run("up", expect=1)
    password_file = password_path(failed)
    assert os.stat(password_file).st_mode & 0o777 == 0o600
    password = Path(password_file).read_text().strip()

    output = aio.run("up")
    assert password_path(output) == password_file
    # The dashboard answers at the URL the all-in-one prints.
    dashboard = re.search(r"dashboard at (http://\S+/) ", output)
    assert dashboard, output
    with urllib.request.urlopen(dashboard.group(1) + "login", timeout=30) as page:
        assert page.status == 200
    clouds = yaml.safe_load(aio.clouds_yaml.read_text())["clouds"]
    assert clouds[aio.cloud]["auth"]["password"] == password
    assert clouds["all-in-one"]["auth"]["password"] == "first-cloud's"
    assert os.stat(aio.clouds_yaml).st_mode & 0o777 == 0o600

    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", tmp_path / "tiny.qcow2", "64M"], check=True
    )
    aio.cli("image", "create", "tiny", "--file", tmp_path / "tiny.qcow2", "--disk-format", "qcow2")
    for name in ("running", "stopped"):
        aio.cli("server", "create", name, "--flavor", "m1.tiny", "--image", "tiny", "--wait")
    aio.cli("server", "stop", "stopped", "--wait")
    assert aio.statuses() == {"running": "ACTIVE", "stopped": "SHUTOFF"}

    aio.run("down")
    assert password_path(aio.run("up")) == password_file
    assert aio.statuses() == {"running": "ACTIVE", "stopped": "SHUTOFF"}
    aio.cli("server", "start", "stopped", "--wait")
    aio.cli("server", "delete", "running", "--wait")
    aio.run("down")
    aio.run("up")
    assert aio.statuses() == {"stopped": "ACTIVE"}
    flavors = aio.cli("flavor", "list", "-f", "value", "-c", "Name").split()
    assert sorted(flavors) == ["m1.medium", "m1.small", "m1.tiny"]
    # One host: a resize stays on it ([resize] allow_resize_to_same_host in its config).
    aio.cli("server", "resize", "stopped", "--flavor", "m1.small", "--wait")
    assert aio.statuses() == {"stopped": "VERIFY_RESIZE"}
    aio.cli("server", "resize", "stopped", "--confirm", "--wait")
    assert aio.statuses() == {"stopped": "ACTIVE"}
    assert aio.cli("server", "show", "stopped", "-f", "value", "-c", "flavor").startswith(
        "m1.small "
    )


def domain_states(uri) -> dict[str, int]:
    conn = libvirt.open(uri)
    try:
        return {d.UUIDString(): d.state()[0] for d in conn.listAllDomains()}
    finally:
        conn.close()


def qemu_processes(state) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "qemu-system" in cmdline and str(state) in cmdline:
            found.append(cmdline)
    return found


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="no QEMU")
def test_down_stops_guest_and_private_daemon_and_up_boots_the_guest_again(
    tmp_path, short_tmp, netns
):
    reason = qemu_skip_reason()
    if reason:
        pytest.skip(reason)
    image = guest_image.build(tmp_path / "guest")
    # In a namespace of its own: as root, the all-in-one gives guests a bridge and DHCP server.
    aio = AllInOne(
        short_tmp, "qemu", netns=netns, STRATUS_GUEST_NAT="0", STRATUS_SHUTDOWN_TIMEOUT="3"
    )
    daemon = LibvirtDaemon(aio.state / "libvirt")
    try:
        aio.run("up")
        assert daemon.pid() is not None
        kernel = aio.cli(
            "image",
            "create",
            "k",
            "--file",
            image.kernel,
            "--disk-format",
            "aki",
            "--container-format",
            "aki",
            "-f",
            "value",
            "-c",
            "id",
        )
        ramdisk = aio.cli(
            "image",
            "create",
            "r",
            "--file",
            image.initrd,
            "--disk-format",
            "ari",
            "--container-format",
            "ari",
            "-f",
            "value",
            "-c",
            "id",
        )
        aio.cli(
            "image",
            "create",
            "guest",
            "--file",
            image.disk,
            "--disk-format",
            "qcow2",
            "--property",
            f"kernel_id={kernel}",
            "--property",
            f"ramdisk_id={ramdisk}",
            "--property",
            f"os_command_line={image.cmdline}",
        )
        server = aio.cli(
            "server",
            "create",
            "g",
            "--flavor",
            "m1.tiny",
            "--image",
            "guest",
            "--wait",
            "-f",
            "value",
            "-c",
            "id",
        )
        aio.wait_for_console("g", image.marker)
        assert domain_states(daemon.uri) == {server: libvirt.VIR_DOMAIN_RUNNING}

        aio.run("down")
        assert daemon.pid() is None and not daemon.socket.exists()
        assert qemu_processes(aio.state) == []
        assert list((aio.state / "libvirt" / "etc" / "qemu").glob("*.xml")), (
            "the guest's definition is kept"
        )

        aio.run("up")
        assert domain_states(daemon.uri) == {server: libvirt.VIR_DOMAIN_RUNNING}
        assert aio.statuses() == {"g": "ACTIVE"}
        console = aio.wait_for_console("g", image.marker)
        assert console.count(image.marker) == 1, "a fresh boot, not the old console"
    finally:
        aio.clean_up()
