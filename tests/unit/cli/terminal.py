"""Runs a program on a real pseudo-terminal, as a user's shell would."""

import os
import pty
import subprocess


def run_on_pty(argv, *, cwd=None, env=None, timeout: float = 120) -> tuple[int, str]:
    """Runs argv with stdin, stdout and stderr on a new pty; its exit code and all it wrote."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        argv, stdin=follower, stdout=follower, stderr=follower, cwd=cwd, env=env
    )
    os.close(follower)
    output = b""
    try:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(leader)
    return proc.wait(timeout=timeout), output.decode(errors="replace")
