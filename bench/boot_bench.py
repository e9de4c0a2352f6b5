"""Boot benchmark: the demo image to its login banner, through Stratus beside plain
`qemu-system-x86_64 -accel tcg` (software emulation, no libvirt, no Stratus), the baseline,
measured in the same run.

    python -m bench.boot_bench [--runs 5] [--memory-mb 256] [--no-stratus]

Plain QEMU: each run boots a throw-away snapshot of the image (built first if needed, see
scripts/build-demo-image) with a config drive like the node's (a key pair, DHCP networking),
and times three marks on the serial console from QEMU's start: the bootloader's greeting, the
boot script's first line, and the end of the login banner.
Stratus: a controller, a private libvirtd and a `stratus-compute` agent (real processes on
loopback), the image uploaded once; each run times CreateServer (with a key pair) to the end
of the banner in the console output the compute API returns, then deletes the server, and
splits that time with the node's log (CreateServer to the agent, image fetch into the node
cache, overlay, define, config drive, start, the agent's other work, guest boot to banner).
Prints each run, the medians and their ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.support import demo_guest
from tests.support.demo_guest import DemoGuest
from tests.support.stratus_boot import StratusBoots

TIMEOUT = 300
MARKS = (
    ("bootloader", r"^SYSLINUX"),
    ("init", r"^stratus-demo: "),
    ("banner", rf"^{demo_guest.BANNER_END}"),
)


def drive(directory: Path) -> Path:
    key = directory / "id_bench"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    public_key = key.with_suffix(".pub").read_text().strip()
    return demo_guest.config_drive(
        directory / "config.iso",
        meta_data={
            "uuid": str(uuid.uuid4()),
            "name": "bench",
            "hostname": "bench",
            "public_keys": {"id_bench": public_key},
        },
        network_data={
            "links": [{"id": "tap0", "ethernet_mac_address": "52:54:00:12:34:56"}],
            "networks": [{"id": "n0", "type": "ipv4_dhcp", "link": "tap0"}],
        },
    )


def boot_once(image: Path, config_drive: Path, memory_mb: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory(prefix="stratus-boot-bench-") as tmp,
        DemoGuest(image, Path(tmp), config_drive=config_drive, memory_mb=memory_mb) as guest,
    ):
        return {name: guest.wait_for(pattern, TIMEOUT) for name, pattern in MARKS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--memory-mb", type=int, default=256)
    parser.add_argument("--no-stratus", action="store_true", help="plain QEMU only")
    args = parser.parse_args()
    if shutil.which(demo_guest.QEMU) is None:
        raise SystemExit(f"{demo_guest.QEMU} is not installed")
    image = demo_guest.demo_image()
    print(
        f"demo image {image}: {image.stat().st_size / 2**20:.1f} MiB, "
        f"{args.memory_mb} MiB of guest memory, {demo_guest.QEMU} -accel tcg, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="stratus-boot-bench-") as tmp:
        config_drive = drive(Path(tmp))
        runs = []
        for number in range(1, args.runs + 1):
            marks = boot_once(image, config_drive, args.memory_mb)
            runs.append(marks)
            print(
                f"run {number}: "
                + "  ".join(f"{name} {seconds:5.2f} s" for name, seconds in marks.items())
            )
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work "
        f"on the machine slows emulation)"
    )
    print(
        f"median of {len(runs)}: "
        + "  ".join(
            f"{name} {statistics.median(run[name] for run in runs):5.2f} s" for name, _ in MARKS
        )
    )
    if args.no_stratus:
        return
    plain = statistics.median(run["banner"] for run in runs)
    with (
        tempfile.TemporaryDirectory(prefix="stratus-boot-bench-") as tmp,
        StratusBoots(Path(tmp), image, args.memory_mb) as stratus,
    ):
        through = []
        for number in range(1, args.runs + 1):
            parts = stratus.boot_to_banner(TIMEOUT)
            through.append(parts)
            print(f"through Stratus, run {number}: CreateServer to banner " + _spent(parts))
    median = statistics.median(parts["total"] for parts in through)
    later = through[1:] or through  # the first boot also fetches the image into the cache
    print(
        f"median of {len(later)} boots with the image cached: "
        + _spent({name: statistics.median(p.get(name, 0.0) for p in later) for name in later[0]})
    )
    print(
        f"median of {len(through)} through Stratus: {median:5.2f} s, "
        f"ratio {median / plain:.2f}x of plain QEMU's {plain:.2f} s"
    )


def _spent(parts: dict[str, float]) -> str:
    """`total 12.34 s (to node 0.12, fetch 0.00, ...)`: where a boot's seconds went."""
    rest = ", ".join(f"{name} {seconds:.2f}" for name, seconds in parts.items() if name != "total")
    return f"{parts['total']:5.2f} s ({rest})"


if __name__ == "__main__":
    main()
