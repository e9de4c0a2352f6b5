"""A service manager's end of sd_notify, for tests: the datagram socket systemd would bind
($NOTIFY_SOCKET), and what the process under test said on it."""

from __future__ import annotations

import socket
import time
from pathlib import Path


class NotifySocket:
    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[str] = []

    @property
    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": str(self.path)}

    def receive(self, timeout: float) -> list[str]:
        """Every message that arrives within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        got = []
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                got.append(self.sock.recv(4096).decode())
            except TimeoutError:
                break
        self.messages += got
        return got

    def wait_for(self, line: str, timeout: float, alive=lambda: True) -> float:
        """Waits until a message holds `line`; returns when (time.monotonic()). `alive()`
        False ends the wait early (the process died)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive():
            self.sock.settimeout(min(0.2, max(0.01, deadline - time.monotonic())))
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            self.messages.append(message)
            if line in message.split("\n"):
                return time.monotonic()
        raise TimeoutError(f"no {line} within {timeout} s; got {self.messages}")

    def close(self) -> None:
        self.sock.close()
