"""Runs the host's network tools (ip, bridge, nft, dnsmasq), optionally inside a named
network namespace (tests wire several "hosts" on one machine that way)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence


class CommandError(Exception):
    def __init__(self, argv: Sequence[str], returncode: int, stderr: str):
        super().__init__(f"{' '.join(argv)}: exit {returncode}: {stderr.strip()}")
        self.returncode = returncode
        self.stderr = stderr


class Runner:
    def __init__(self, netns: str | None = None, timeout: float = 30.0):
        self.netns = netns
        self.timeout = timeout

    def argv(self, args: Sequence[str]) -> list[str]:
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        return [*prefix, *args]

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        argv = self.argv(args)
        done = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=self.timeout, check=False
        )
        if check and done.returncode != 0:
            raise CommandError(argv, done.returncode, done.stderr)
        return done.stdout

    def json(self, *args: str) -> list[dict]:
        out = self.run(*args)
        return json.loads(out) if out.strip() else []
