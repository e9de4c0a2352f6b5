"""Reading config drives back in tests: the ISO's files under each of its naming schemes, and
cloud-init's own ConfigDrive reader from Debian's package.

The cloud-init package is fetched with apt (`apt-get download`, never installed) and unpacked
once under $STRATUS_TEST_CACHE (default ~/.cache/stratus-test), under a file lock so parallel
test workers fetch it once.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
from pathlib import Path

import pycdlib

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
        return (iso.pvd.volume_identifier.decode("ascii").strip(),
                iso.joliet_vd.volume_identifier.decode("utf-16-be").strip())
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


class CloudInitUnavailable(RuntimeError):
    pass


def cloud_init_path() -> Path:
    """A directory to put on sys.path that holds Debian's `cloudinit` package."""
    directory = cache_dir()
    with open(directory / ".cloud-init.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        unpacked = directory / "cloud-init"
        packages = unpacked / "usr" / "lib" / "python3" / "dist-packages"
        if not (packages / "cloudinit").is_dir():
            _unpack_cloud_init(unpacked)
        return packages


def _unpack_cloud_init(target: Path) -> None:
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        try:
            _apt_download(tmp)
        except subprocess.CalledProcessError:  # a fresh machine: no package lists yet
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=600)
            try:
                _apt_download(tmp)
            except (OSError, subprocess.SubprocessError) as exc:
                detail = getattr(exc, "stderr", b"") or b""
                raise CloudInitUnavailable(
                    f"{exc} {detail.decode(errors='replace').strip()[-300:]}") from exc
        except OSError as exc:
            raise CloudInitUnavailable(str(exc)) from exc
        deb = next(Path(tmp).glob("cloud-init_*.deb"))
        unpacked = Path(tmp, "root")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True,
                       capture_output=True, timeout=120)
        os.replace(unpacked, target)


def _apt_download(directory: str) -> None:
    subprocess.run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root",
                    "cloud-init"], cwd=directory, check=True, capture_output=True, timeout=600)
