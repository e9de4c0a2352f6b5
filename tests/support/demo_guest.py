"""The demo image booted by plain QEMU (software emulation, no libvirt), for its tests and
the boot benchmark: a config drive written here with genisoimage (the node's own writer is
compute_node's business), user-mode networking with SSH forwarded from a loopback port, and
the serial console in a file.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from demo_image import build
from tests.support import guest_image
from tests.support.ports import free_port

BANNER = "stratus-demo login banner"
BANNER_END = "stratus-demo login banner end"
QEMU = "qemu-system-x86_64"


def demo_image() -> Path:
    """The demo image, built into the test cache (reused while its inputs are unchanged)."""
    path = guest_image.cache_dir() / "demo.qcow2"
    build.build(path)
    return path


def config_drive(
    path: Path, meta_data: dict, network_data: dict | None = None, user_data: bytes | None = None
) -> Path:
    """An ISO 9660 volume labelled config-2 with openstack/latest/ as Nova writes it."""
    tree = path.with_suffix(".d")
    latest = tree / "openstack" / "latest"
    latest.mkdir(parents=True)
    (latest / "meta_data.json").write_text(json.dumps(meta_data))
    if network_data is not None:
        (latest / "network_data.json").write_text(json.dumps(network_data))
    if user_data is not None:
        (latest / "user_data").write_bytes(user_data)
    subprocess.run(
        ["genisoimage", "-quiet", "-o", str(path), "-V", "config-2", "-r", "-J", str(tree)],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(tree)
    return path


@dataclass
class Banner:
    hostname: str
    addresses: list[str]
    fingerprint: str
    instance: str | None = None
    lines: list[str] = field(default_factory=list)


def parse_banner(console: str) -> Banner | None:
    """The first complete login banner on a console, or None."""
    found = re.search(rf"^{BANNER}\r?\n(.*?)^{BANNER_END}", console, flags=re.M | re.S)
    if not found:
        return None
    lines = [line.strip() for line in found.group(1).splitlines()]
    values: dict[str, list[str]] = {}
    for line in lines:
        key, _, value = line.partition(": ")
        values.setdefault(key, []).append(value)
    return Banner(
        hostname=values["hostname"][0],
        addresses=values.get("address", []),
        fingerprint=values["ssh host key fingerprint"][0],
        instance=values.get("instance", [None])[0],
        lines=lines,
    )


class DemoGuest:
    """One QEMU process booting the demo image: a throw-away snapshot of it, or (snapshot
    False) the disk given, which keeps what the guest writes."""

    def __init__(
        self,
        image: Path,
        workdir: Path,
        *,
        config_drive: Path | None = None,
        mac: str = "52:54:00:12:34:56",
        guest_address: str = "",
        memory_mb: int = 256,
        snapshot: bool = True,
    ):
        self.console_path = workdir / "console.log"
        self.qmp_path = workdir / "qmp.sock"
        self.ssh_port = free_port()
        self.command = [
            QEMU,
            "-accel",
            "tcg",
            "-m",
            str(memory_mb),
            "-nodefaults",
            "-display",
            "none",
            "-serial",
            f"file:{self.console_path}",
            "-qmp",
            f"unix:{self.qmp_path},server=on,wait=off",
            "-drive",
            f"file={image},if=virtio,snapshot={'on' if snapshot else 'off'}",
            "-nic",
            (
                f"user,model=virtio-net-pci,mac={mac},"
                f"hostfwd=tcp:127.0.0.1:{self.ssh_port}-{guest_address}:22"
            ),
        ]
        if config_drive:
            self.command += ["-drive", f"file={config_drive},media=cdrom,readonly=on"]
        self.process: subprocess.Popen | None = None
        self.started = 0.0

    def __enter__(self) -> DemoGuest:
        self.console_path.write_bytes(b"")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        return self

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
        if self.process:
            self.process.wait(timeout=30)

    def console(self) -> str:
        return self.console_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float) -> float:
        """Seconds from QEMU's start until `pattern` (a regex) is on the console."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.console(), flags=re.M):
                return time.monotonic() - self.started
            if self.process.poll() is not None:
                raise AssertionError(
                    f"QEMU exited ({self.process.returncode}): "
                    f"{self.process.stderr.read().decode()[-1000:]}"
                )
            time.sleep(0.05)
        raise AssertionError(
            f"{pattern!r} not on the console after {timeout} s: {self.console()[-3000:]!r}"
        )

    def press_power_button(self) -> None:
        """The ACPI power button, as a hypervisor's graceful stop presses it (over QMP)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(30)
            sock.connect(str(self.qmp_path))
            stream = sock.makefile("rw")
            stream.readline()  # the greeting
            for command in ("qmp_capabilities", "system_powerdown"):
                stream.write(json.dumps({"execute": command}) + "\n")
                stream.flush()
                reply = json.loads(stream.readline())
                while "event" in reply:  # an event may come before the command's reply
                    reply = json.loads(stream.readline())
                assert "return" in reply, reply

    def wait_for_banner(self, timeout: float) -> tuple[Banner, float]:
        seconds = self.wait_for(f"^{BANNER_END}", timeout)
        return parse_banner(self.console()), seconds
