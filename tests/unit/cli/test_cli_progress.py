"""The progress bar draws on a terminal (a real pty) and stays silent when piped."""

import io
import subprocess
import sys
from pathlib import Path

from cli.progress import Progress, human_bytes, human_duration
from tests.unit.cli.terminal import run_on_pty

ROOT = Path(__file__).resolve().parents[3]
TRANSFER = """
import sys
from cli.progress import Progress
with Progress(sys.stderr, 10 * 1024 * 1024, label="upload", interval=0) as progress:
    for _ in progress.wrap([b"x" * 1024 * 1024] * 10):
        pass
print("done")
"""


def test_a_terminal_sees_the_bar_with_bytes_rate_and_time_left():
    code, output = run_on_pty([sys.executable, "-c", TRANSFER], cwd=ROOT)
    assert code == 0, output
    assert "upload" in output and "\r" in output
    final = output.split("\r\x1b[K")[-1]
    assert final.startswith("upload  100% [")
    assert "10.0 MiB / 10.0 MiB" in final and "/s" in final and "0:00 left" in final
    assert output.rstrip().endswith("done")


def test_a_pipe_sees_nothing_but_the_output():
    proc = subprocess.run(
        [sys.executable, "-c", TRANSFER], capture_output=True, cwd=ROOT, timeout=60, check=True
    )
    assert proc.stdout == b"done\n"
    assert proc.stderr == b""


def test_the_line_with_a_known_total():
    clock = iter([0.0, 4.0]).__next__
    progress = Progress(io.StringIO(), 100 * 1024 * 1024, label="x", enabled=True, clock=clock)
    progress.done = 40 * 1024 * 1024
    line = progress.line(clock())
    assert line.startswith("x   40% [")
    assert line.endswith("40.0 MiB / 100.0 MiB  10.0 MiB/s  0:06 left")


def test_the_line_without_a_total_shows_bytes_and_rate():
    clock = iter([0.0, 2.0]).__next__
    progress = Progress(io.StringIO(), None, enabled=True, clock=clock)
    progress.done = 3 * 1024
    assert progress.line(clock()) == "3.0 KiB  1.5 KiB/s"


def test_units():
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(5 * 1024**4) == "5.0 TiB"
    assert human_duration(59.6) == "1:00"
    assert human_duration(3725) == "1:02:05"
