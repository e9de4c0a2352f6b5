"""A gzip'd cpio "newc" archive, the format of a Linux initramfs, written in Python: it is
byte-for-byte reproducible and needs no root to hold device nodes."""

from __future__ import annotations

import gzip
import io
import stat
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    name: str  # relative path, no leading slash
    mode: int  # file type and permission bits, as st_mode
    data: bytes = b""  # a file's contents, or a symbolic link's target
    rdev: tuple[int, int] = (0, 0)  # a device node's major and minor


def directory(name: str) -> Entry:
    return Entry(name, stat.S_IFDIR | 0o755)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, stat.S_IFLNK | 0o777, target.encode())


def console_node() -> Entry:
    """/dev/console, so the kernel can give init its standard streams before /dev exists."""
    return Entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))


def _write(out: io.BytesIO, ino: int, entry: Entry) -> None:
    encoded = entry.name.encode() + b"\0"
    fields = [ino, entry.mode, 0, 0, 1, 0, len(entry.data), 0, 0, *entry.rdev, len(encoded), 0]
    out.write(b"070701" + b"".join(b"%08X" % f for f in fields) + encoded)
    out.write(b"\0" * (-(110 + len(encoded)) % 4))
    out.write(entry.data)
    out.write(b"\0" * (-len(entry.data) % 4))


def archive(entries: list[Entry]) -> bytes:
    out = io.BytesIO()
    for ino, entry in enumerate(entries, start=1):
        _write(out, ino, entry)
    _write(out, 0, Entry("TRAILER!!!", 0))
    return gzip.compress(out.getvalue(), compresslevel=9, mtime=0)
