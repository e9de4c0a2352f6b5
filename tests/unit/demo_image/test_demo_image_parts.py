"""The demo image's pieces that need no guest: the MBR, the cpio writer, the build's input
digest, and the boot script's jq programs (run by the real jq on made-up config drives)."""

import json
import shutil
import struct
import subprocess

import pytest

from demo_image import cpio, debs, disk, initramfs
from demo_image.build import inputs_digest

GUEST_LIB = initramfs.GUEST_FILES / "usr" / "lib" / "stratus-demo"


def jq(*args, document=""):
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed; scripts/install-deps installs it")
    result = subprocess.run(
        ["jq", "-r", "-L", str(GUEST_LIB), *args],
        input=document,
        check=False,
        capture_output=True,
        text=True,
    )
    return result.returncode, [line.split("\t") for line in result.stdout.splitlines()]


def jq_lines(module, document):
    """The lines one of the boot script's jq modules makes of a document."""
    return jq(f'include "{module}"; {module}_lines', document=document)


def config_lines(meta, network):
    """What the boot script's single jq run makes of a config drive's two files."""
    return jq(
        "-n",
        "--slurpfile",
        "meta",
        str(meta),
        "--slurpfile",
        "network",
        str(network),
        "-f",
        str(GUEST_LIB / "config.jq"),
    )


def test_master_boot_record_has_one_active_fat16_partition_after_the_boot_code():
    mbr = disk.master_boot_record(2048, 65536)
    assert len(mbr) == 512 and mbr[510:] == b"\x55\xaa"
    assert mbr[:440] == disk._mbr_code()
    status, first_chs, kind, _, start, sectors = struct.unpack("<B3sB3sII", mbr[446:462])
    assert (status, kind, start, sectors) == (0x80, 0x0E, 2048, 65536)
    assert first_chs == bytes([32, 33, 0])  # 2048 = head 32, sector 33, cylinder 0
    assert mbr[462:510] == b"\0" * 48  # the other three entries are empty


def test_sectors_past_cylinder_1023_get_the_maximum_chs_address():
    assert disk._chs(1024 * 255 * 63) == b"\xfe\xff\xff"
    assert disk._chs(1023 * 255 * 63) == bytes([0, 0xC1, 0xFF])


def test_cpio_archive_lists_files_links_directories_and_the_console_node(tmp_path):
    archive = tmp_path / "initrd.img"
    archive.write_bytes(
        cpio.archive(
            [
                cpio.directory("bin"),
                cpio.Entry("bin/busybox", 0o100755, b"#!/bin/true\n"),
                cpio.symlink("bin/sh", "/bin/busybox"),
                cpio.directory("dev"),
                cpio.console_node(),
            ]
        )
    )
    listing = subprocess.run(
        f"zcat {archive} | cpio -itv --quiet",
        shell=True,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert [line.split()[0] for line in listing] == [
        "drwxr-xr-x",
        "-rwxr-xr-x",
        "lrwxrwxrwx",
        "drwxr-xr-x",
        "crw-------",
    ]
    assert listing[2].endswith("bin/sh -> /bin/busybox")
    assert listing[4].endswith("dev/console")
    extracted = tmp_path / "out"
    extracted.mkdir()
    subprocess.run(
        f"zcat {archive} | cpio -id --quiet bin/busybox", shell=True, check=True, cwd=extracted
    )
    assert (extracted / "bin" / "busybox").read_bytes() == b"#!/bin/true\n"


def test_the_same_packages_give_the_same_digest_and_a_new_version_another():
    one = [debs.Package("jq", "1.6-2.1", "amd64"), debs.Package("libc6", "2.36-9", "amd64")]
    assert inputs_digest(one) == inputs_digest(list(reversed(one)))
    assert inputs_digest(one) != inputs_digest([one[0], debs.Package("libc6", "2.36-10", "amd64")])


def test_an_epoch_is_quoted_in_the_downloaded_file_name():
    package = debs.Package("busybox-static", "1:1.35.0-4", "amd64")
    assert package.filename == "busybox-static_1%3a1.35.0-4_amd64.deb"


def test_network_data_becomes_links_addresses_routes_and_dns_servers():
    status, lines = jq_lines(
        "network",
        json.dumps(
            {
                "links": [
                    {
                        "id": "tap0",
                        "type": "phy",
                        "ethernet_mac_address": "FA:16:3E:00:00:01",
                        "mtu": 1450,
                    }
                ],
                "networks": [
                    {
                        "id": "n4",
                        "type": "ipv4",
                        "link": "tap0",
                        "ip_address": "10.1.0.5",
                        "netmask": "255.255.240.0",
                        "routes": [
                            {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.1.0.1"}
                        ],
                        "services": [{"type": "dns", "address": "10.1.0.2"}],
                    },
                    {
                        "id": "n6",
                        "type": "ipv6",
                        "link": "tap0",
                        "ip_address": "fd00::5",
                        "netmask": "ffff:ffff:ffff:ff00::",
                        "routes": [{"network": "::", "netmask": "::", "gateway": "fd00::1"}],
                    },
                    {"id": "nd", "type": "ipv4_dhcp", "link": "no-such-link"},
                ],
                "services": [{"type": "dns", "address": "192.0.2.53"}, {"type": "ntp"}],
            }
        ),
    )
    assert status == 0
    assert lines == [
        ["link", "fa:16:3e:00:00:01", "1450"],
        ["net", "ipv4", "fa:16:3e:00:00:01", "10.1.0.5/20"],
        ["route", "fa:16:3e:00:00:01", "0.0.0.0/0", "10.1.0.1"],
        ["dns", "10.1.0.2"],
        ["net", "ipv6", "fa:16:3e:00:00:01", "fd00::5/56"],
        ["route", "fa:16:3e:00:00:01", "::/0", "fd00::1"],
        ["net", "ipv4_dhcp", "-", "-"],
        ["dns", "192.0.2.53"],
    ]


def test_an_address_with_its_prefix_and_a_missing_netmask_keep_sensible_lengths():
    status, lines = jq_lines(
        "network",
        json.dumps(
            {
                "networks": [
                    {"type": "ipv4", "ip_address": "10.0.0.9/28"},
                    {"type": "ipv4", "ip_address": "10.0.0.10"},
                    {"type": "ipv6", "ip_address": "fd00::9", "netmask": "64"},
                ]
            }
        ),
    )
    assert status == 0
    assert [line[3] for line in lines] == ["10.0.0.9/28", "10.0.0.10/32", "fd00::9/64"]


def test_meta_data_gives_uuid_hostname_and_each_ssh_key_once():
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKX0 alice"
    status, lines = jq_lines(
        "meta",
        json.dumps(
            {
                "uuid": "u-1",
                "name": "web",
                "hostname": "web-1.novalocal",
                "public_keys": {"alice": key + "\n"},
                "keys": [
                    {"name": "alice", "type": "ssh", "data": key},
                    {"name": "bob", "type": "ssh", "data": "ssh-rsa AAAAB3 bob"},
                    {"name": "cert", "type": "x509", "data": "-----BEGIN CERTIFICATE-----"},
                ],
            }
        ),
    )
    assert status == 0
    assert lines == [
        ["uuid", "u-1"],
        ["hostname", "web-1.novalocal"],
        ["key", key],
        ["key", "ssh-rsa AAAAB3 bob"],
    ]


def test_without_hostname_the_name_is_used_and_bad_json_fails():
    assert jq_lines("meta", '{"name": "web"}') == (0, [["hostname", "web"]])
    status, lines = jq_lines("meta", '{"name": ')
    assert status != 0 and lines == []


def test_one_jq_run_reads_meta_data_then_network_data_and_a_missing_file_is_empty(tmp_path):
    meta, network = tmp_path / "meta_data.json", tmp_path / "network_data.json"
    meta.write_text(json.dumps({"uuid": "u-2", "hostname": "db"}))
    network.write_text(json.dumps({"networks": [{"type": "ipv4_dhcp"}]}))
    assert config_lines(meta, network) == (
        0,
        [["uuid", "u-2"], ["hostname", "db"], ["net", "ipv4_dhcp", "-", "-"]],
    )
    assert config_lines(meta, "/dev/null") == (0, [["uuid", "u-2"], ["hostname", "db"]])
    network.write_text("{")
    assert config_lines(meta, network)[0] != 0
