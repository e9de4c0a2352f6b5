import shutil
import subprocess
from pathlib import Path

import pytest

import compute_node.drivers.libvirt.accel as accel

SOURCE = Path(accel.__file__).with_name("kvm_probe.S")


def test_probe_is_one_boot_sector():
    assert len(accel.BOOT_SECTOR) == 512
    assert accel.BOOT_SECTOR[-2:] == b"\x55\xaa"


@pytest.mark.skipif(
    shutil.which("as") is None or shutil.which("ld") is None, reason="binutils are not installed"
)
def test_embedded_probe_is_built_from_its_source(tmp_path):
    subprocess.run(["as", "--32", "-o", tmp_path / "p.o", SOURCE], check=True)
    subprocess.run(
        [
            "ld",
            "-m",
            "elf_i386",
            "-Ttext",
            "0x7c00",
            "--oformat",
            "binary",
            "-o",
            tmp_path / "p.bin",
            tmp_path / "p.o",
        ],
        check=True,
    )
    assert (tmp_path / "p.bin").read_bytes() == accel.BOOT_SECTOR


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="no QEMU")
def test_probe_guest_reaches_long_mode_under_software_emulation():
    assert accel.accel_works(shutil.which("qemu-system-x86_64"), "tcg")


def test_a_missing_emulator_means_no_acceleration(tmp_path):
    assert not accel.accel_works(str(tmp_path / "no-such-qemu"), "kvm")
