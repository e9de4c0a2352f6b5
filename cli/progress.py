"""A progress bar for long transfers: bytes, rate and time left, redrawn in place on a
terminal; nothing at all when the stream is not a terminal."""

import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(n: float) -> str:
    for unit in _UNITS:
        if abs(n) < 1024 or unit == _UNITS[-1]:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Counts bytes and, on a terminal, draws `label  42% [====>   ] 42.0 MiB / 100.0 MiB
    10.5 MiB/s  0:05 left` at most every `interval` seconds."""

    def __init__(
        self,
        stream: TextIO,
        total: int | None = None,
        *,
        label: str = "",
        enabled: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 0.1,
    ):
        self.stream = stream
        self.total = total if total and total > 0 else None
        self.label = label
        self.enabled = is_terminal(stream) if enabled is None else enabled
        self.clock = clock
        self.interval = interval
        self.done = 0
        self.started = clock()
        self._drawn_at: float | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def update(self, n: int) -> None:
        self.done += n
        if self.enabled:
            now = self.clock()
            if self._drawn_at is None or now - self._drawn_at >= self.interval:
                self._draw(now)

    def wrap(self, chunks: Iterable[bytes], size: Callable = len) -> Iterator:
        """Passes chunks through, counting `size(chunk)` bytes of each."""
        for chunk in chunks:
            self.update(size(chunk))
            yield chunk

    def close(self) -> None:
        if self.enabled and self._drawn_at is not None:
            self._draw(self.clock())
            self.stream.write("\n")
            self.stream.flush()
            self._drawn_at = None

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        head = f"{self.label}  " if self.label else ""
        if self.total is None:
            return f"{head}{human_bytes(self.done)}  {human_bytes(rate)}/s"
        fraction = min(self.done / self.total, 1.0)
        left = (self.total - self.done) / rate if rate > 0 else None
        tail = (
            f"  {human_bytes(self.done)} / {human_bytes(self.total)}"
            f"  {human_bytes(rate)}/s  "
            f"{human_duration(left) + ' left' if left is not None else '--:-- left'}"
        )
        columns = shutil.get_terminal_size((80, 24)).columns
        bar_width = max(10, min(40, columns - len(head) - len(tail) - 8))
        filled = int(bar_width * fraction)
        bar = "=" * filled + (">" if filled < bar_width else "") + " " * (bar_width - filled - 1)
        return f"{head}{fraction:4.0%} [{bar[:bar_width]}]{tail}"

    def _draw(self, now: float) -> None:
        self._drawn_at = now
        self.stream.write("\r\x1b[K" + self.line(now))
        self.stream.flush()


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
