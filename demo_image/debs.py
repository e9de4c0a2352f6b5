"""Debian packages as plain files: fetched with `apt-get download` (nothing is installed),
kept in a cache directory by exact version, unpacked with `dpkg-deb`.

The cloud flavour of the kernel is preferred: it boots about three times faster under QEMU's
software emulation than the generic one.
"""

from __future__ import annotations

import fcntl
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

KERNEL_METAPACKAGES = ("linux-image-cloud-amd64", "linux-image-amd64")
APT_TIMEOUT = 600


class DebError(RuntimeError):
    pass


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    arch: str

    @property
    def filename(self) -> str:
        """The file name `apt-get download` gives this version (an epoch's colon quoted)."""
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.arch}.deb"


def run(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        list(args), check=False, cwd=cwd, capture_output=True, text=True, timeout=APT_TIMEOUT
    )
    if result.returncode != 0:
        raise DebError(f"{' '.join(args)}: {result.stderr.strip()[-500:]}")
    return result.stdout


def with_lists(lookup):
    """Runs an apt-cache look-up; on a fresh machine (no package lists yet: apt-cache finds
    nothing, or fails) updates once and looks again."""
    try:
        found = lookup()
    except DebError:
        found = []
    if not found:
        run("apt-get", "update", "-q")
        found = lookup()
    return found


def kernel_packages() -> list[str]:
    """Debian kernel package names, preferred first: the cloud flavour, then generic."""

    def lookup() -> list[str]:
        # One call (each loads apt's cache: a second or more on a busy machine); names apt
        # does not know are skipped.
        out = run("apt-cache", "depends", *KERNEL_METAPACKAGES)
        return re.findall(r"Depends: (linux-image-6\.\S+-amd64)\b", out)

    names = with_lists(lookup)
    if not names:
        raise DebError("apt knows no linux-image-6 amd64 package")
    return names


def dependency_closure(names: list[str]) -> list[str]:
    """`names` and everything they depend on (Depends and Pre-Depends only), real packages."""

    def lookup() -> list[str]:
        out = run(
            "apt-cache",
            "depends",
            "--recurse",
            "--no-recommends",
            "--no-suggests",
            "--no-conflicts",
            "--no-breaks",
            "--no-replaces",
            "--no-enhances",
            *names,
        )
        return sorted(
            {
                line
                for line in out.splitlines()
                if line and not line[0].isspace() and not line.startswith("<")
            }
        )

    return with_lists(lookup)


def candidates(names: list[str]) -> list[Package]:
    """The version apt would install of each package, as known from the package lists."""
    out = run("apt-cache", "show", "--no-all-versions", *names)
    packages = []
    for stanza in out.split("\n\n"):
        fields = dict(re.findall(r"^([\w-]+): (.*)$", stanza, flags=re.M))
        if "Package" in fields:
            packages.append(Package(fields["Package"], fields["Version"], fields["Architecture"]))
    missing = set(names) - {p.name for p in packages}
    if missing:
        raise DebError(f"apt knows no package {', '.join(sorted(missing))}")
    return packages


def download(packages: list[Package], directory: Path) -> list[Path]:
    """The .deb files of these exact versions, downloaded into `directory` when missing
    (under a file lock, so parallel builds and test workers download once)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".download.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wanted = [p for p in packages if not (directory / p.filename).exists()]
        if wanted:
            with tempfile.TemporaryDirectory(dir=directory) as tmp:
                run(
                    "apt-get",
                    "download",
                    "-q",
                    "-o",
                    "APT::Sandbox::User=root",
                    *(f"{p.name}={p.version}" for p in wanted),
                    cwd=Path(tmp),
                )
                for p in wanted:
                    (Path(tmp) / p.filename).rename(directory / p.filename)
    return [directory / p.filename for p in packages]


def extract(deb: Path, target: Path) -> Path:
    """Unpacks a .deb's files under `target` (no maintainer scripts run)."""
    target.mkdir(parents=True, exist_ok=True)
    run("dpkg-deb", "-x", str(deb), str(target))
    return target
