"""Builds the demo image, Stratus's cirros: a small qcow2 that boots by itself (SYSLINUX on
the disk), reads an OpenStack config drive and starts an SSH server. See README.md.

    scripts/build-demo-image [OUTPUT] [--force]

OUTPUT defaults to ~/.cache/stratus/demo.qcow2 ($XDG_CACHE_HOME respected). An image whose
inputs have not changed (package versions, the build tools' versions, this directory's files)
is reused. The image's path is the one line printed on standard output.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from demo_image import debs, disk, initramfs

SOURCES = Path(__file__).parent
# Host packages whose programs shape the image.
BUILD_TOOLS = ("syslinux", "syslinux-common", "mtools", "dosfstools", "qemu-utils")


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stratus"


def default_output() -> Path:
    return cache_root() / "demo.qcow2"


def _tool_versions() -> str:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${Version}\n", *BUILD_TOOLS],
        check=False,
        capture_output=True,
        text=True,
    )
    return out.stdout


def inputs_digest(packages: list[debs.Package]) -> str:
    digest = hashlib.sha256()
    for package in sorted(packages, key=lambda p: p.name):
        digest.update(f"{package.filename}\n".encode())
    digest.update(_tool_versions().encode())
    for path in sorted(SOURCES.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(f"{path.relative_to(SOURCES)} {os.access(path, os.X_OK)}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _log(message: str) -> None:
    print(f"build-demo-image: {message}", file=sys.stderr, flush=True)


def _assemble(packages: list[debs.Package], output: Path) -> None:
    deb_dir = cache_root() / "debs"
    files = debs.download(packages, deb_dir)
    for stale in set(deb_dir.glob("*.deb")) - set(files):
        stale.unlink()
    with tempfile.TemporaryDirectory(prefix="stratus-demo-") as tmp:
        work = Path(tmp)
        root = work / "root"
        for deb in files:
            debs.extract(deb, root)
        kernel = next(root.glob("boot/vmlinuz-*"))
        initrd = work / "initrd.img"
        initrd.write_bytes(initramfs.build(root))
        disk.build(work, kernel, initrd, output)


def build(output: Path, force: bool = False) -> bool:
    """Builds the image at `output` unless one built from the same inputs is there.
    Returns whether it was built."""
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel builds (test workers) build once
        names = debs.dependency_closure(list(initramfs.PACKAGES)) + debs.kernel_packages()[:1]
        packages = debs.candidates(names)
        digest = inputs_digest(packages)
        stamp = output.with_name(output.name + ".inputs")
        if not force and output.exists() and stamp.exists() and stamp.read_text().strip() == digest:
            return False
        _assemble(packages, output)
        stamp.write_text(digest + "\n")
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build-demo-image", description=__doc__.split("\n")[0])
    parser.add_argument(
        "output",
        nargs="?",
        type=Path,
        default=default_output(),
        help="where to write the qcow2 (default: %(default)s)",
    )
    parser.add_argument("--force", action="store_true", help="build even if up to date")
    args = parser.parse_args(argv)
    output = args.output.absolute()
    start = time.monotonic()
    try:
        built = build(output, args.force)
    except (debs.DebError, initramfs.InitramfsError, disk.DiskError) as exc:
        _log(f"failed: {exc}")
        return 1
    size = output.stat().st_size / (1024 * 1024)
    if built:
        _log(f"built {output} ({size:.1f} MiB) in {time.monotonic() - start:.1f} s")
    else:
        _log(f"{output} is up to date ({size:.1f} MiB)")
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
