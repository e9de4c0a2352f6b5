"""The demo image's initramfs, from a tree of unpacked Debian packages: busybox (init, shell,
udhcpc, acpid), dropbear, jq and the shared libraries they need, the kernel modules for a
config drive and a virtio NIC, and the files of guest/ (the boot script and its helpers).

The guest runs from this archive in RAM: there is no root filesystem to mount.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

from demo_image import cpio

GUEST_FILES = Path(__file__).parent / "guest"
# Debian packages whose programs the guest runs; their libraries come with them.
PACKAGES = ("busybox-static", "dropbear-bin", "jq")
BUSYBOX = "bin/busybox"
PROGRAMS = ("usr/sbin/dropbear", "usr/bin/dropbearkey", "usr/bin/jq")
LIBRARY_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu")
# Drivers for a config drive (IDE or SCSI CD-ROM, virtio disk, ISO 9660 or FAT), a virtio
# NIC, and the ACPI power button (a graceful stop); their dependencies are added.
MODULES = (
    "ata_piix",
    "virtio_pci",
    "virtio_scsi",
    "sr_mod",
    "virtio_blk",
    "isofs",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "virtio_net",
    "button",
    "evdev",
)
# SCSI scanning in the foreground, so a CD-ROM has its device node when insmod returns.
MODULE_PARAMETERS = {"scsi_mod": "scan=sync"}
MODULE_LIST = "usr/lib/stratus-demo/modules"


class InitramfsError(RuntimeError):
    pass


def _readelf(*args: str) -> str:
    return subprocess.run(["readelf", *args], check=True, capture_output=True, text=True).stdout


def _needed(binary: Path) -> list[str]:
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", _readelf("-d", str(binary)))


def _interpreter(binary: Path) -> str | None:
    found = re.search(r"Requesting program interpreter: (.+?)\]", _readelf("-l", str(binary)))
    return found.group(1) if found else None


def _file(name: str, source: Path, mode: int = 0o755) -> cpio.Entry:
    return cpio.Entry(name, stat.S_IFREG | mode, source.read_bytes())


def _library(root: Path, soname: str) -> Path:
    for directory in LIBRARY_DIRS:
        if (root / directory / soname).exists():
            return (root / directory / soname).resolve()
    raise InitramfsError(f"no package in the image provides {soname}")


def program_entries(root: Path) -> list[cpio.Entry]:
    """The programs, every shared library they load (transitively), and the loader."""
    entries = [_file(name, root / name) for name in PROGRAMS]
    interpreter = _interpreter(root / PROGRAMS[0])
    pending = [root / name for name in PROGRAMS]
    seen: set[str] = set()
    while pending:
        for soname in _needed(pending.pop()):
            if soname not in seen:
                seen.add(soname)
                library = _library(root, soname)
                entries.append(_file(f"{LIBRARY_DIRS[0]}/{soname}", library))
                pending.append(library)
    if interpreter:
        entries.append(_file(interpreter.lstrip("/"), _library(root, Path(interpreter).name)))
    return entries


def busybox_entries(root: Path) -> list[cpio.Entry]:
    """busybox, a link for each of its applets, and /init (busybox's init)."""
    busybox = root / BUSYBOX
    applets = subprocess.run(
        [str(busybox), "--list-full"], check=True, capture_output=True, text=True
    ).stdout.split()
    links = [cpio.symlink(path, "/" + BUSYBOX) for path in applets if path != BUSYBOX]
    return [_file(BUSYBOX, busybox), *links, cpio.symlink("init", "/" + BUSYBOX)]


def _module_depends(module: Path) -> list[str]:
    found = re.search(r"depends=(\S*)", _readelf("-p", ".modinfo", str(module)))
    return [name for name in (found.group(1) if found else "").split(",") if name]


def module_entries(root: Path) -> list[cpio.Entry]:
    """The wanted modules and their dependencies, flat under /lib/modules, and the list
    the boot script loads them in (dependencies first)."""
    (release,) = (root / "lib" / "modules").iterdir()
    files = {path.name[:-3].replace("-", "_"): path for path in release.rglob("*.ko")}
    builtin = {
        Path(line).name[:-3].replace("-", "_")
        for line in (release / "modules.builtin").read_text().split()
    }
    order: list[str] = []

    def add(name: str, chain: tuple[str, ...]) -> None:
        if name in order or name in builtin:
            return
        if name not in files:
            raise InitramfsError(f"kernel {release.name} has no module {name}")
        if name in chain:
            raise InitramfsError(f"modules depend on each other: {' -> '.join(chain)}")
        for dependency in _module_depends(files[name]):
            add(dependency, (*chain, name))
        order.append(name)

    for name in MODULES:
        add(name, ())
    lines = "".join(f"{name} {MODULE_PARAMETERS.get(name, '')}".rstrip() + "\n" for name in order)
    return [
        *(_file(f"lib/modules/{name}.ko", files[name], 0o644) for name in order),
        cpio.Entry(MODULE_LIST, stat.S_IFREG | 0o644, lines.encode()),
    ]


def guest_entries() -> list[cpio.Entry]:
    entries = []
    for path in sorted(GUEST_FILES.rglob("*")):
        if path.is_file():
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            entries.append(_file(str(path.relative_to(GUEST_FILES)), path, mode))
    return entries


def _directories(entries: list[cpio.Entry]) -> list[cpio.Entry]:
    """Every parent directory of the entries, and the mount points the boot script uses."""
    names = {"dev", "proc", "sys", "root", "run", "tmp", "mnt"}
    for entry in entries:
        parts = entry.name.split("/")[:-1]
        names.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return [cpio.directory(name) for name in sorted(names)]


def build(root: Path) -> bytes:
    """The gzip'd initramfs, from `root`: the unpacked guest packages and kernel package."""
    entries = [
        *busybox_entries(root),
        *program_entries(root),
        *module_entries(root),
        *guest_entries(),
    ]
    return cpio.archive([*_directories(entries), *entries, cpio.console_node()])
