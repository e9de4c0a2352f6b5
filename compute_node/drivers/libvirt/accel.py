"""Does KVM really work here? Decided by running a guest, not by looking at /dev/kvm.

Some hosts have a /dev/kvm on which QEMU hangs or fails (nested virtualisation that lacks
CPU features or MSRs, for one). The probe boots a 512-byte boot sector (kvm_probe.S) under
`-accel kvm` that switches to 64-bit long mode, then writes to QEMU's isa-debug-exit port:
QEMU exits with (value << 1) | 1 only if that code really ran. KVM is trusted only if, in
addition, QEMU did not warn that the host lacks features of its default CPU model: on such
hosts a boot sector runs but Linux kernels hang early.
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import tempfile

LOG = logging.getLogger(__name__)

_EXIT_VALUE = 0x2A
_EXPECTED_STATUS = (_EXIT_VALUE << 1) | 1
_CODE = bytes.fromhex(
    "fa31c08ed88ec08ed0bc007cbf0010b90018f3ab66c70600100320000066c70600200330000066c706"
    "003083000000660f0116907c0f20e06683c8200f22e066b8001000000f22d866b9800000c00f32660d"
    "000100000f300f20c0660d010000800f22c066ea6c7c00000800b02ae6f4f4ebfd8d74260090000000"
    "0000000000ffff0000009aaf00ffff00000092cf001700787c"
)
_MISSING_FEATURE = b"host doesn't support requested feature"
BOOT_SECTOR = _CODE + bytes(510 - len(_CODE)) + b"\x55\xaa"


def probe_command(emulator: str, accel: str, image: str) -> list[str]:
    return [
        emulator,
        "-accel",
        accel,
        "-machine",
        "pc",
        "-m",
        "16",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        "-drive",
        f"file={image},format=raw,if=ide",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
    ]


def accel_works(emulator: str, accel: str, timeout: float = 20.0) -> bool:
    with tempfile.TemporaryDirectory(prefix="stratus-accel-") as tmp:
        image = os.path.join(tmp, "probe.img")
        with open(image, "wb") as f:
            f.write(BOOT_SECTOR)
        try:
            result = subprocess.run(
                probe_command(emulator, accel, image),
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            LOG.info("%s probe with %s failed: %s", accel, emulator, exc)
            return False
    ok = result.returncode == _EXPECTED_STATUS and _MISSING_FEATURE not in result.stderr
    if not ok:
        LOG.info(
            "%s probe exited %s: %s",
            accel,
            result.returncode,
            result.stderr.decode(errors="replace").strip()[-300:],
        )
    return ok


@functools.cache
def kvm_works(emulator: str) -> bool:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    return accel_works(emulator, "kvm")
