"""Instance disks: copy-on-write qcow2 overlays on cached base images, made with qemu-img."""

from __future__ import annotations

import subprocess

from compute_node.drivers.base import DriverError

GiB = 1024**3


def _qemu_img(*args: str, timeout: float = 120) -> None:
    try:
        subprocess.run(["qemu-img", *args], check=True, capture_output=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise DriverError("qemu-img is not installed") from exc
    except subprocess.CalledProcessError as exc:
        message = exc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
        raise DriverError(f"qemu-img {args[0]}: {message[0]}") from exc


def create_overlay(path: str, base: str, base_format: str, size_gb: int = 0) -> None:
    """A qcow2 whose unwritten blocks read from `base`. The base is never written; size 0
    keeps the base's virtual size."""
    args = ["create", "-q", "-f", "qcow2", "-b", base, "-F", base_format, path]
    if size_gb:
        args.append(str(size_gb * GiB))
    _qemu_img(*args)


def create_blank(path: str, size_gb: int) -> None:
    _qemu_img("create", "-q", "-f", "qcow2", path, str(size_gb * GiB))


def flatten(source: str, target: str, timeout: float = 3600) -> None:
    """`source` and its backing chain as one standalone qcow2 (no backing file: the image
    service refuses those). -U reads an image a paused guest's QEMU still holds open."""
    _qemu_img("convert", "-U", "-q", "-O", "qcow2", source, target, timeout=timeout)
