"""Reading config drives back in tests: the ISO's files under each of its naming schemes,
cloud-init's own ConfigDrive reader from Debian's package, and the kernel modules a test guest
needs to read the drive itself.

Packages are fetched with apt (`apt-get download`, never installed) and unpacked once under
$STRATUS_TEST_CACHE (default ~/.cache/stratus-test), under a file lock so parallel test
workers fetch them once.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
from pathlib import Path

import pycdlib

from demo_image import debs
from tests.support import guest_image
from tests.support.guest_image import cache_dir

NAMING = ("rr_path", "joliet_path", "iso_path")  # Rock Ridge, Joliet, plain ISO 9660


def read(iso_path, naming: str = "rr_path") -> dict[str, bytes]:
    """Every file on the volume, path (without the leading /) -> bytes."""
    iso = pycdlib.PyCdlib()
    iso.open(str(iso_path))
    try:
        found = {}
        for root, _dirs, files in iso.walk(**{naming: "/"}):
            for name in files:
                path = f"{root.rstrip('/')}/{name}"
                with iso.open_file_from_iso(**{naming: path}) as f:
                    found[path.lstrip("/")] = f.read()
        return found
    finally:
        iso.close()


def labels(iso_path) -> tuple[str, str]:
    """The volume label as the primary and as the Joliet descriptor give it."""
    iso = pycdlib.PyCdlib()
    iso.open(str(iso_path))
    try:
        return (
            iso.pvd.volume_identifier.decode("ascii").strip(),
            iso.joliet_vd.volume_identifier.decode("utf-16-be").strip(),
        )
    finally:
        iso.close()


def extract(iso_path, directory: Path) -> Path:
    """The volume's files under `directory`, by their Rock Ridge names (what Linux shows
    when it mounts the volume)."""
    for path, data in read(iso_path).items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return directory


class PackageUnavailable(RuntimeError):
    """A Debian package could not be downloaded (no network, or the archive dropped it)."""


def cloud_init_path() -> Path:
    """A directory to put on sys.path that holds Debian's `cloudinit` package."""
    directory = cache_dir()
    with open(directory / ".cloud-init.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        unpacked = directory / "cloud-init"
        packages = unpacked / "usr" / "lib" / "python3" / "dist-packages"
        if not (packages / "cloudinit").is_dir():
            with tempfile.TemporaryDirectory(dir=directory) as tmp:
                deb = _download_deb("cloud-init", Path(tmp))
                subprocess.run(
                    ["dpkg-deb", "-x", str(deb), f"{tmp}/root"],
                    check=True,
                    capture_output=True,
                    timeout=120,
                )
                os.replace(f"{tmp}/root", unpacked)
        return packages


# A Debian kernel builds what reads an IDE CD-ROM as modules; in the order they load.
CDROM_MODULES = (
    "drivers/scsi/scsi_common.ko",
    "drivers/scsi/scsi_mod.ko",
    "drivers/ata/libata.ko",
    "drivers/ata/ata_piix.ko",
    "drivers/cdrom/cdrom.ko",
    "drivers/scsi/sr_mod.ko",
    "fs/isofs/isofs.ko",
)


def cdrom_modules(kernel: Path) -> list[Path]:
    """CDROM_MODULES of `kernel` (a Debian `vmlinuz-<release>`), from its own package,
    cached beside it."""
    release = kernel.name.removeprefix("vmlinuz-")
    directory = cache_dir() / f"modules-{release}"
    with open(cache_dir() / ".modules.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not directory.is_dir():
            with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
                deb = _download_deb(f"linux-image-{release}", Path(tmp))
                members = [f"./lib/modules/{release}/kernel/{m}" for m in CDROM_MODULES]
                unpack = subprocess.Popen(
                    ["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE
                )
                subprocess.run(
                    ["tar", "-x", "-C", tmp, *members],
                    stdin=unpack.stdout,
                    check=True,
                    capture_output=True,
                    timeout=300,
                )
                unpack.stdout.close()
                unpack.wait()
                os.replace(Path(tmp, "lib", "modules", release, "kernel"), directory)
    return [directory / m for m in CDROM_MODULES]


def _download_deb(package: str, directory: Path) -> Path:
    """The version apt would install of `package`, downloaded into `directory` (the demo
    image's own fetcher: package lists refreshed once on a fresh machine)."""
    try:
        [found] = debs.with_lists(lambda: debs.candidates([package]))
        [deb] = debs.download([found], directory)
    except (debs.DebError, OSError, subprocess.SubprocessError) as exc:
        raise PackageUnavailable(str(exc)) from exc
    return deb


READ_MARKER = "STRATUS-CONFIG-DRIVE"
# Loads the CD-ROM modules, finds the volume by its label as guests do, and prints what a guest
# reads there, each file between marker lines.
READER_INIT = f"""#!/bin/busybox sh
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
exec </dev/console >/dev/console 2>&1
for module in /modules/*.ko; do /bin/busybox insmod "$module"; done
for _ in $(/bin/busybox seq 100); do
  drive=$(/bin/busybox findfs LABEL=config-2) && break
  /bin/busybox sleep 0.1
done
/bin/busybox mkdir /drive
/bin/busybox mount -t iso9660 -o ro "$drive" /drive
for name in meta_data.json network_data.json user_data; do
  echo "{READ_MARKER} $name"
  /bin/busybox cat "/drive/openstack/latest/$name"
  echo
done
echo "{READ_MARKER} end"
while true; do /bin/busybox sleep 3600; done
"""


def reader_initramfs(directory: Path, kernel: Path) -> Path:
    """An initramfs for `kernel` whose init prints the config drive's files on the console."""
    modules = tuple(
        (f"modules/{i}-{path.name}", 0o100644, path.read_bytes())
        for i, path in enumerate(cdrom_modules(kernel))
    )
    path = directory / "reader-initrd.img"
    path.write_bytes(
        guest_image.initramfs_bytes(
            guest_image.find_busybox().read_bytes(),
            READER_INIT,
            (("modules", 0o040755, b""), *modules),
        )
    )
    return path


def printed(console: str) -> dict[str, str]:
    """What READER_INIT printed, file name -> text."""
    found, name, lines = {}, None, []
    for line in console.replace("\r", "").splitlines():
        if line.startswith(f"{READ_MARKER} "):
            if name is not None:
                found[name] = "\n".join(lines)
            name, lines = line[len(READ_MARKER) + 1 :], []
        elif name is not None:
            lines.append(line)
    return found
