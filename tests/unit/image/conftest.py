"""Crafted disk images for the image tests: made by qemu-img where it can make them, by hand
(header bytes laid out as the format specifications say) where it cannot or will not."""

import shutil
import struct
import subprocess

import pytest

SECTOR = 512


@pytest.fixture
def qemu_img(tmp_path):
    """qemu_img("create", "-f", "qcow2", "x.qcow2", "1M") runs in tmp_path; returns a reader."""
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img (qemu-utils) is not installed")

    def run(*args: str) -> None:
        subprocess.run(["qemu-img", *args], cwd=tmp_path, check=True, capture_output=True)

    return run


@pytest.fixture
def made(tmp_path, qemu_img):
    """made("qcow2", "x.qcow2", "1M", "-o", "...") -> the image bytes qemu-img wrote."""

    def build(fmt: str, name: str, size: str = "1M", *options: str) -> bytes:
        qemu_img("create", "-q", "-f", fmt, *options, name, size)
        return (tmp_path / name).read_bytes()

    return build


GD_AT_END = 0xFFFFFFFFFFFFFFFF


def _sparse_header(sectors: int, desc_sectors: int, gd_offset: int) -> bytes:
    return struct.pack(
        "<4sIIQQQQIQQ", b"KDMV", 3, 3, sectors, 128, 1, desc_sectors, 512, 0, gd_offset
    ).ljust(SECTOR, b"\0")


def vmdk_sparse(descriptor: str, sectors: int = 2048, footer: bool = False) -> bytes:
    """A hosted sparse extent (KDMV) with the given embedded descriptor at sector 1.

    With `footer`, the header defers to a footer at the end (grain directory offset
    GD_AT_END), as VMware's streamOptimized writers do: footer marker, footer, end marker.
    """
    desc = descriptor.encode()
    desc_sectors = -(-len(desc) // SECTOR) or 1
    gd_offset = 1 + desc_sectors
    body = _sparse_header(sectors, desc_sectors, GD_AT_END if footer else gd_offset)
    body += desc.ljust(desc_sectors * SECTOR, b"\0") + bytes(4 * SECTOR)
    if footer:
        marker = struct.pack("<QII", 1, 0, 3).ljust(SECTOR, b"\0")  # MARKER_FOOTER
        body += marker + _sparse_header(sectors, desc_sectors, gd_offset) + bytes(SECTOR)
    return body


def vmdk_descriptor(
    create_type: str = "monolithicSparse", extents=('RW 2048 SPARSE "disk.vmdk"',), extra: str = ""
) -> str:
    lines = [
        "# Disk DescriptorFile",
        "version=1",
        "CID=12345678",
        "parentCID=ffffffff",
        f'createType="{create_type}"',
        extra,
        "# Extent description",
        *extents,
        "# The Disk Data Base",
        "#DDB",
        'ddb.virtualHWVersion = "4"',
    ]
    return "\n".join(line for line in lines if line) + "\n"


def mbr(boot_flag: int = 0x80, os_type: int = 0x83) -> bytes:
    """A legacy MBR with one partition from LBA 2048."""
    entry = struct.pack("<B3BB3BII", boot_flag, 0, 2, 0, os_type, 0, 0, 0, 2048, 4096)
    return bytes(446) + entry + bytes(48) + b"\x55\xaa"


def iso_pvd(blocks: int) -> bytes:
    """An ISO 9660 primary volume descriptor (one 2 KiB sector)."""
    pvd = bytearray(2048)
    pvd[0:7] = b"\x01CD001\x01"
    pvd[80:88] = struct.pack("<I", blocks) + struct.pack(">I", blocks)
    pvd[128:132] = struct.pack("<H", 2048) + struct.pack(">H", 2048)
    return bytes(pvd)


def iso(blocks: int = 24, system_area: bytes = b"") -> bytes:
    """An ISO image of `blocks` 2 KiB blocks; the system area (first 32 KiB) may hold an MBR."""
    image = bytearray(blocks * 2048)
    image[: len(system_area)] = system_area
    image[32768:34816] = iso_pvd(blocks)
    return bytes(image)


def luks1_header() -> bytes:
    header = struct.pack(
        ">6sH32s32s32sII20s32sI40s",
        b"LUKS\xba\xbe",
        1,
        b"aes",
        b"xts-plain64",
        b"sha256",
        8,
        64,
        bytes(20),
        bytes(32),
        1000,
        b"0" * 40,
    )
    slots = b"".join(struct.pack(">II32sII", 0x0000DEAD, 0, bytes(32), 8, 4000) for _ in range(8))
    return (header + slots).ljust(16 * SECTOR, b"\0")


@pytest.fixture
def crafted():
    """The hand-built images, as a namespace of builders."""

    class Crafted:
        pass

    for fn in (vmdk_sparse, vmdk_descriptor, mbr, iso, iso_pvd, luks1_header):
        setattr(Crafted, fn.__name__, staticmethod(fn))
    return Crafted
