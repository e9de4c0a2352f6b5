"""A process's memory as the kernel counts it, from /proc."""

from pathlib import Path


def rss(pid: int, key: str = "VmRSS") -> int:
    """Bytes of `key` in /proc/PID/status: VmRSS now, or VmHWM, the peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"no {key} for process {pid}")


def reset_peak(pid: int) -> None:
    """VmHWM starts again from the current RSS."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
