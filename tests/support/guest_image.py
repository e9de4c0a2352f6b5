"""A tiny real guest: a Debian kernel, a busybox initramfs whose init prints a marker on the
serial console and idles, and a small empty qcow2 disk.

The kernel comes from Debian's archive with apt (`apt-get download`, no installation) and is
cached under $STRATUS_TEST_CACHE (default ~/.cache/stratus-test). The cloud flavour of the
kernel is preferred: it boots to the marker about three times faster under QEMU's software
emulation than the generic one. The initramfs is written in Python (cpio "newc"), so it is
byte-for-byte reproducible and needs no root to hold a /dev/console node.

    python -m tests.support.guest_image      # fetch and build, print the paths
"""
from __future__ import annotations

import fcntl
import gzip
import io
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

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

def _apt(*args: str) -> str:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise GuestImageError(f"{' '.join(args)}: {result.stderr.strip()[-500:]}")
    return result.stdout


def kernel_packages() -> list[str]:
    """Debian kernel package names, preferred first: the cloud flavour, then generic."""
    names = []
    for meta in ("linux-image-cloud-amd64", "linux-image-amd64"):
        try:
            out = _apt("apt-cache", "depends", meta)
        except GuestImageError:
            continue
        names += re.findall(r"Depends: (linux-image-6\.\S+-amd64)\b", out)
    if not names:
        out = _apt("apt-cache", "search", "--names-only",
                   r"^linux-image-6\.1\.0-[0-9]+-(cloud-)?amd64$")
        found = [line.split()[0] for line in out.splitlines() if line.strip()]
        found.sort(key=lambda n: (int(re.search(r"6\.1\.0-(\d+)", n).group(1)),
                                  "cloud" in n), reverse=True)
        names = found
    return names


def _download_kernel(target: Path) -> Path:
    packages = kernel_packages()
    if not packages:  # a fresh machine: the package lists are not there yet
        _apt("apt-get", "update")
        packages = kernel_packages()
    if not packages:
        raise GuestImageError("apt knows no linux-image-6.1 amd64 package")
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        errors = []
        for package in packages:
            try:
                subprocess.run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root",
                                package], cwd=tmp, check=True, capture_output=True,
                               timeout=600)
                break
            except subprocess.CalledProcessError as exc:
                errors.append(exc.stderr.decode(errors="replace").strip()[-200:])
        else:
            raise GuestImageError(f"apt-get download failed: {errors}")
        deb = next(Path(tmp).glob("*.deb"))
        tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)],
                               stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", tmp, "--wildcards", "./boot/vmlinuz-*"],
                       stdin=tar.stdout, check=True)
        tar.stdout.close()
        if tar.wait() != 0:
            raise GuestImageError(f"dpkg-deb could not read {deb.name}")
        vmlinuz = next(Path(tmp, "boot").glob("vmlinuz-*"))
        final = target / vmlinuz.name
        os.replace(vmlinuz, final)
        return final


def kernel(directory: Path | None = None) -> Path:
    """A cached Debian kernel; downloaded with apt the first time (under a file lock, so
    parallel test workers download it once)."""
    directory = directory or cache_dir()
    with open(directory / ".kernel.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cached = sorted(directory.glob("vmlinuz-*"), key=lambda p: "cloud" not in p.name)
        if cached:
            return cached[0]
        return _download_kernel(directory)


# -- initramfs ---------------------------------------------------------------------------

def _cpio_entry(out: io.BytesIO, ino: int, name: str, mode: int, data: bytes = b"",
                rdev: tuple[int, int] = (0, 0)) -> None:
    encoded = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0]
    out.write(b"070701" + b"".join(b"%08X" % f for f in fields) + encoded)
    out.write(b"\0" * (-(110 + len(encoded)) % 4))
    out.write(data)
    out.write(b"\0" * (-len(data) % 4))


def initramfs_bytes(busybox: bytes, init_script: str = INIT_SCRIPT,
                    files: tuple[tuple[str, int, bytes], ...] = ()) -> bytes:
    """A gzip'd newc cpio archive: busybox, /init, and the directories and console node
    the init script needs, then `files` (name, mode, data)."""
    out = io.BytesIO()
    entries = [("dev", 0o040755, b""), ("proc", 0o040755, b""), ("sys", 0o040755, b""),
               ("bin", 0o040755, b""), ("bin/busybox", 0o100755, busybox),
               ("init", 0o100755, init_script.encode()), *files]
    for ino, (name, mode, data) in enumerate(entries, start=1):
        _cpio_entry(out, ino, name, mode, data)
    _cpio_entry(out, len(entries) + 1, "dev/console", 0o020600, rdev=(5, 1))
    _cpio_entry(out, 0, "TRAILER!!!", 0)
    return gzip.compress(out.getvalue(), compresslevel=6, mtime=0)


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
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), f"{size_mb}M"],
                   check=True, capture_output=True)
    return path


def build(directory: Path) -> GuestImage:
    """Everything a test guest needs, in `directory` (the kernel is copied from the cache
    so the caller may hand the directory to another user or delete it)."""
    directory.mkdir(parents=True, exist_ok=True)
    kernel_copy = directory / "vmlinuz"
    shutil.copyfile(kernel(), kernel_copy)
    return GuestImage(kernel=kernel_copy, initrd=initramfs(directory),
                      disk=small_qcow2(directory / "disk.qcow2"))


if __name__ == "__main__":
    image = build(Path(tempfile.mkdtemp(prefix="stratus-guest-")))
    print(image)
