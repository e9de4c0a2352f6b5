"""A bootable disk from a kernel and an initramfs, built from image files only (no loop
device, no mount, no root): an MBR with SYSLINUX's boot code and one active FAT16 partition
holding SYSLINUX (installed by the mtools-based `syslinux --install`), its configuration,
the kernel and the initramfs; converted to a compressed qcow2 by `qemu-img`.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

SECTOR = 512
MIB = 1024 * 1024
PARTITION_START = MIB // SECTOR  # 1 MiB, where partitioning tools put the first partition
FAT16_LBA = 0x0E
ACTIVE = 0x80
DISK_SIGNATURE = 0x53545244  # fixed, so the same inputs give the same disk
VOLUME_LABEL = "STRATUSDEMO"  # the boot script finds its partition by it (rcS)
MBR_CODE_PATHS = ("/usr/lib/syslinux/mbr/mbr.bin", "/usr/lib/SYSLINUX/mbr.bin")
# Kernel messages on the screen (VNC) and the serial port; the last console named is the one
# init and its shell use: the serial port, which the console log records.
KERNEL_ARGS = "console=tty0 console=ttyS0,115200 quiet"
SYSLINUX_CFG = f"""SERIAL 0 115200
DEFAULT demo
PROMPT 0
TIMEOUT 0
LABEL demo
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND {KERNEL_ARGS}
"""


class DiskError(RuntimeError):
    pass


def _run(*args: str) -> None:
    result = subprocess.run(list(args), check=False, capture_output=True, text=True)
    if result.returncode != 0:
        raise DiskError(f"{' '.join(args)}: {result.stderr.strip()[-500:]}")


def _mbr_code() -> bytes:
    for path in MBR_CODE_PATHS:
        if os.path.exists(path):
            return Path(path).read_bytes()[:440]
    raise DiskError("SYSLINUX's mbr.bin is missing: apt-get install syslinux-common")


def _chs(lba: int) -> bytes:
    """A sector's cylinder-head-sector address in the 255-head, 63-sector geometry (the
    maximum value where it does not fit, as partitioning tools write)."""
    cylinder, rest = divmod(lba, 255 * 63)
    if cylinder > 1023:
        return b"\xfe\xff\xff"
    head, sector = divmod(rest, 63)
    return bytes([head, ((cylinder >> 2) & 0xC0) | (sector + 1), cylinder & 0xFF])


def master_boot_record(start: int, sectors: int) -> bytes:
    """Boot code, disk signature, one active FAT16 (LBA) partition, the boot signature."""
    entry = struct.pack(
        "<B3sB3sII", ACTIVE, _chs(start), FAT16_LBA, _chs(start + sectors - 1), start, sectors
    )
    return (
        _mbr_code().ljust(440, b"\0")
        + struct.pack("<IH", DISK_SIGNATURE, 0)
        + entry
        + b"\0" * 48
        + b"\x55\xaa"
    )


def partition_size(files: list[Path]) -> int:
    """Room for the files and a quarter more, in whole MiB, at least 32 MiB."""
    needed = sum(f.stat().st_size for f in files) * 5 // 4
    return max(32 * MIB, -(-needed // MIB) * MIB)


def fat_partition(path: Path, kernel: Path, initrd: Path) -> None:
    size = partition_size([kernel, initrd])
    with open(path, "wb") as f:
        f.truncate(size)
    _run("mkfs.fat", "-F", "16", "-n", VOLUME_LABEL, "-h", str(PARTITION_START), str(path))
    _run("syslinux", "--install", str(path))
    config = path.with_name("syslinux.cfg")
    config.write_text(SYSLINUX_CFG)
    for source, name in ((config, "syslinux.cfg"), (kernel, "vmlinuz"), (initrd, "initrd.img")):
        _run("mcopy", "-i", str(path), str(source), f"::/{name}")


def build(workdir: Path, kernel: Path, initrd: Path, output: Path) -> Path:
    """Writes the qcow2 to `output` (atomically: a reader never sees half an image)."""
    partition = workdir / "partition.img"
    fat_partition(partition, kernel, initrd)
    sectors = partition.stat().st_size // SECTOR
    raw = workdir / "disk.img"
    with open(raw, "wb") as disk, open(partition, "rb") as source:
        disk.write(master_boot_record(PARTITION_START, sectors))
        disk.seek(PARTITION_START * SECTOR)
        shutil.copyfileobj(source, disk, MIB)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    _run("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", str(raw), str(partial))
    os.replace(partial, output)
    return output
