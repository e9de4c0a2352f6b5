"""scripts/build-demo-image as the all-in-one runs it: the image's path on standard output,
a qcow2 with no backing file whose MBR boots the FAT partition that holds SYSLINUX, the kernel
and the initramfs; a second run with unchanged inputs reuses it. Fetches Debian packages
through apt on first use (cached), like the QEMU tests it sits beside."""

import json
import os
import struct
import subprocess
from pathlib import Path

import pytest

from demo_image import disk

pytestmark = pytest.mark.qemu

SCRIPT = Path(__file__).parents[3] / "scripts" / "build-demo-image"


def build(output, env):
    return subprocess.run(
        [str(SCRIPT), str(output)], capture_output=True, text=True, timeout=900, env=env, check=True
    )


def test_builds_a_self_booting_qcow2_then_reuses_it(tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    debs = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stratus" / "debs"
    if debs.is_dir():  # the packages another build fetched: no second download
        (tmp_path / "cache").mkdir()
        (tmp_path / "cache" / "stratus").mkdir()
        os.symlink(debs, tmp_path / "cache" / "stratus" / "debs")
    output = tmp_path / "out" / "demo.qcow2"
    first = build(output, env)
    assert first.stdout == f"{output}\n"
    assert "built" in first.stderr
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(output)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert info["format"] == "qcow2" and "backing-filename" not in info
    assert info["virtual-size"] <= 64 * 2**20 and output.stat().st_size <= 32 * 2**20

    raw = tmp_path / "disk.img"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(output), str(raw)], check=True)
    mbr = raw.read_bytes()[:512]
    status, _, kind, _, start, _ = struct.unpack("<B3sB3sII", mbr[446:462])
    assert (status, kind, start, mbr[510:]) == (0x80, 0x0E, disk.PARTITION_START, b"\x55\xaa")
    listing = subprocess.run(
        ["mdir", "-a", "-b", "-i", f"{raw}@@{start * disk.SECTOR}", "::"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert {line.strip().lstrip(":/").lower() for line in listing.splitlines()} >= {
        "ldlinux.sys",
        "ldlinux.c32",
        "syslinux.cfg",
        "vmlinuz",
        "initrd.img",
    }

    built_at = output.stat().st_mtime_ns
    second = build(output, env)
    assert second.stdout == f"{output}\n"
    assert "up to date" in second.stderr
    assert output.stat().st_mtime_ns == built_at
