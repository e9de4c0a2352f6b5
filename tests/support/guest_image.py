"""A tiny real guest: a Debian kernel, a busybox initramfs whose init prints a marker on the
serial console and idles, and a small empty qcow2 disk.

The kernel is the demo image's (demo_image/debs.py: Debian's cloud flavour, fetched with
`apt-get download`, no installation), cached under $STRATUS_TEST_CACHE (default
~/.cache/stratus-test). The initramfs is written by demo_image/cpio.py.

    python -m tests.support.guest_image      # fetch and build, print the paths
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from demo_image import cpio, debs

MARKER = "STRATUS-GUEST-READY"
CMDLINE = "console=ttyS0 quiet"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")

INIT_SCRIPT = f"""#!/bin/busybox sh
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
exec </dev/console >/dev/console 2>&1
echo "{MARKER} kernel=$(/bin/busybox uname -r)"
while true; do /bin/busybox sleep 3600; done
"""


class GuestImageError(RuntimeError):
    pass


@dataclass(frozen=True)
class GuestImage:
    kernel: Path
    initrd: Path
    disk: Path
    cmdline: str = CMDLINE
    marker: str = MARKER


def cache_dir() -> Path:
    default = Path(os.path.expanduser("~")) / ".cache" / "stratus-test"
    path = Path(os.environ.get("STRATUS_TEST_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- kernel ------------------------------------------------------------------------------


def kernel(directory: Path | None = None) -> Path:
    """A cached Debian kernel (the demo image's choice of package), fetched the first time
    under a file lock, so parallel test workers fetch it once."""
    directory = directory or cache_dir()
    with open(directory / ".kernel.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cached = sorted(directory.glob("vmlinuz-*"), key=lambda p: "cloud" not in p.name)
        if cached:
            return cached[0]
        try:
            package = debs.candidates(debs.kernel_packages()[:1])
            (deb,) = debs.download(package, directory / "debs")
            with tempfile.TemporaryDirectory(dir=directory) as tmp:
                vmlinuz = next(debs.extract(deb, Path(tmp)).glob("boot/vmlinuz-*"))
                final = directory / vmlinuz.name
                os.replace(vmlinuz, final)
        except debs.DebError as exc:
            raise GuestImageError(str(exc)) from exc
        shutil.rmtree(directory / "debs")
        return final


# -- initramfs ---------------------------------------------------------------------------


def initramfs_bytes(
    busybox: bytes, init_script: str = INIT_SCRIPT, files: tuple[tuple[str, int, bytes], ...] = ()
) -> bytes:
    """busybox, /init, and the directories and console node the init script needs, then
    `files` (name, mode, data)."""
    return cpio.archive(
        [
            cpio.directory("dev"),
            cpio.directory("proc"),
            cpio.directory("sys"),
            cpio.directory("bin"),
            cpio.Entry("bin/busybox", 0o100755, busybox),
            cpio.Entry("init", 0o100755, init_script.encode()),
            *(cpio.Entry(name, mode, data) for name, mode, data in files),
            cpio.console_node(),
        ]
    )


def find_busybox() -> Path:
    for candidate in BUSYBOX_CANDIDATES:
        path = Path(candidate)
        if path.exists():
            with open(path, "rb") as f:
                if b"/lib64/ld-linux" not in f.read(4096):  # a static build
                    return path
    raise GuestImageError("a static busybox is needed: apt-get install busybox-static")


def initramfs(directory: Path) -> Path:
    path = directory / "initrd.img"
    path.write_bytes(initramfs_bytes(find_busybox().read_bytes()))
    return path


# -- disk --------------------------------------------------------------------------------


def small_qcow2(path: Path, size_mb: int = 16) -> Path:
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(path), f"{size_mb}M"],
        check=True,
        capture_output=True,
    )
    return path


def build(directory: Path) -> GuestImage:
    """Everything a test guest needs, in `directory` (the kernel is copied from the cache
    so the caller may hand the directory to another user or delete it)."""
    directory.mkdir(parents=True, exist_ok=True)
    kernel_copy = directory / "vmlinuz"
    shutil.copyfile(kernel(), kernel_copy)
    return GuestImage(
        kernel=kernel_copy, initrd=initramfs(directory), disk=small_qcow2(directory / "disk.qcow2")
    )


if __name__ == "__main__":
    image = build(Path(tempfile.mkdtemp(prefix="stratus-guest-")))
    print(image)
