"""The demo image under plain QEMU (software emulation, no libvirt): it boots from its own
disk, reads a config drive as cloud-init would, and lets the key pair's key in over SSH.
Skipped only without QEMU; the image is built on first use (Debian packages through apt)."""

import shutil
import subprocess
import uuid

import pytest

from tests.support import demo_guest
from tests.support.demo_guest import DemoGuest

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(
        shutil.which(demo_guest.QEMU) is None, reason="qemu-system-x86_64 is not installed"
    ),
]

BOOT_TIMEOUT = 180
MAC = "52:54:00:ab:cd:ef"
STATIC_ADDRESS = "10.0.2.20"  # not what QEMU's DHCP hands out (10.0.2.15)


@pytest.fixture(scope="module")
def image():
    return demo_guest.demo_image()


def key_pair(path):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
    )
    return path.with_suffix(".pub").read_text().strip()


def ssh(guest, key, known_hosts, command):
    result = subprocess.run(
        [
            "ssh",
            "-i",
            str(key),
            "-p",
            str(guest.ssh_port),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "ConnectTimeout=30",
            "root@127.0.0.1",
            command,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_config_drive_sets_hostname_keys_and_static_network_and_runs_user_data(image, tmp_path):
    public_key = key_pair(tmp_path / "id_demo")
    other_key = key_pair(tmp_path / "id_other")
    instance, token = str(uuid.uuid4()), uuid.uuid4().hex
    drive = demo_guest.config_drive(
        tmp_path / "config.iso",
        meta_data={
            "uuid": instance,
            "name": "first",
            "hostname": "demo-1.novalocal",
            "project_id": "p",
            "availability_zone": "nova",
            "meta": {},
            "public_keys": {"id_demo": public_key},
            "keys": [
                {"name": "id_demo", "type": "ssh", "data": public_key},
                {"name": "id_other", "type": "ssh", "data": other_key},
            ],
        },
        network_data={
            "links": [
                {"id": "tap0", "type": "phy", "mtu": 1400, "ethernet_mac_address": MAC.upper()}
            ],
            "networks": [
                {
                    "id": "network0",
                    "type": "ipv4",
                    "link": "tap0",
                    "ip_address": STATIC_ADDRESS,
                    "netmask": "255.255.255.0",
                    "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.2.2"}],
                }
            ],
            "services": [{"type": "dns", "address": "10.0.2.3"}],
        },
        user_data=(
            f'#!/bin/sh\necho "user-data-marker $(hostname) {token}"\n'
            f"echo {token} > /root/user-data-marker\n"
        ).encode(),
    )
    with DemoGuest(
        image, tmp_path, config_drive=drive, mac=MAC, guest_address=STATIC_ADDRESS
    ) as guest:
        banner, _ = guest.wait_for_banner(BOOT_TIMEOUT)
        assert banner.hostname == "demo-1"
        assert banner.instance == instance
        assert f"eth0 {STATIC_ADDRESS}/24" in banner.addresses
        assert not [a for a in banner.addresses if "10.0.2.15" in a]
        assert "authorized keys: 2" in banner.lines
        guest.wait_for(rf"^user-data-marker demo-1 {token}", BOOT_TIMEOUT)
        guest.wait_for(r"user data exited with status 0", BOOT_TIMEOUT)

        known_hosts = tmp_path / "known_hosts"
        out = ssh(
            guest,
            tmp_path / "id_demo",
            known_hosts,
            "hostname; cat /root/user-data-marker; cat /sys/class/net/eth0/mtu; "
            "cat /etc/resolv.conf",
        )
        assert out.splitlines() == ["demo-1", token, "1400", "nameserver 10.0.2.3"]
        assert ssh(guest, tmp_path / "id_other", known_hosts, "id -u") == "0\n"
        seen = subprocess.run(
            ["ssh-keygen", "-l", "-f", str(known_hosts)], check=True, capture_output=True, text=True
        ).stdout.split()[1]
        assert banner.fingerprint == f"{seen} (ED25519)"


def test_without_config_drive_it_boots_with_dhcp_and_powers_off_on_the_acpi_button(image, tmp_path):
    with DemoGuest(image, tmp_path) as guest:
        banner, _ = guest.wait_for_banner(BOOT_TIMEOUT)
        assert banner.hostname == "stratus-demo"
        assert "eth0 10.0.2.15/24" in banner.addresses
        assert banner.instance is None
        assert "authorized keys: 0" in banner.lines
        assert "stratus-demo: no config drive" in guest.console()
        guest.press_power_button()
        assert guest.process.wait(timeout=BOOT_TIMEOUT) == 0
    assert "reboot: Power down" in guest.console()


def test_dhcp_network_name_as_hostname_and_user_data_that_is_not_a_script(image, tmp_path):
    drive = demo_guest.config_drive(
        tmp_path / "config.iso",
        meta_data={"uuid": str(uuid.uuid4()), "name": "named"},
        network_data={
            "links": [{"id": "tap0", "ethernet_mac_address": MAC}],
            "networks": [{"id": "n0", "type": "ipv4_dhcp", "link": "tap0"}],
        },
        user_data=b"#cloud-config\nruncmd: [touch /never]\n",
    )
    with DemoGuest(image, tmp_path, config_drive=drive, mac=MAC) as guest:
        banner, _ = guest.wait_for_banner(BOOT_TIMEOUT)
        guest.wait_for("^stratus-demo: user data does not start with #!: not run", BOOT_TIMEOUT)
    assert banner.hostname == "named"
    assert "eth0 10.0.2.15/24" in banner.addresses


def test_host_key_and_user_data_run_are_kept_per_instance_across_reboots(image, tmp_path):
    disk = tmp_path / "instance.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(image), "-F", "qcow2", str(disk)],
        check=True,
    )
    first_instance = str(uuid.uuid4())

    def boot(name, instance):
        workdir = tmp_path / name
        workdir.mkdir()
        drive = demo_guest.config_drive(
            workdir / "config.iso",
            meta_data={"uuid": instance, "name": name},
            user_data=b"#!/bin/sh\necho MARKER-FROM-USER-DATA\n",
        )
        with DemoGuest(disk, workdir, config_drive=drive, snapshot=False) as guest:
            banner, _ = guest.wait_for_banner(BOOT_TIMEOUT)
            guest.wait_for(r"^stratus-demo: user data (exited|already ran)", BOOT_TIMEOUT)
            guest.press_power_button()
            assert guest.process.wait(timeout=BOOT_TIMEOUT) == 0
            return banner.fingerprint, guest.console()

    first_key, first = boot("first", first_instance)
    again_key, again = boot("again", first_instance)
    other_key, other = boot("other", str(uuid.uuid4()))
    assert first_key == again_key != other_key
    assert "\nMARKER-FROM-USER-DATA" in first and "already ran" not in first
    assert "\nMARKER-FROM-USER-DATA" not in again
    assert "stratus-demo: user data already ran for this instance" in again
    assert "\nMARKER-FROM-USER-DATA" in other
