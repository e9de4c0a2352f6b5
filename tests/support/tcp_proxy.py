"""A TCP proxy on loopback that a test controls: it forwards, or it blackholes.

Blackholed, it keeps every connection open and keeps reading (so the sender's TCP sees its
data acknowledged) but forwards nothing, in either direction: a half-open path through a
load balancer or NAT whose far side is gone, which neither end can tell from a quiet one
without keepalive. New connections are accepted and blackholed too, until `heal()`.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading

BUFFER = 65536
POLL = 0.2  # seconds a pump waits for data before looking at the flags again


class TcpProxy:
    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._blackholed = threading.Event()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def blackhole(self) -> None:
        self._blackholed.set()

    def heal(self) -> None:
        """New connections are forwarded again (blackholed ones stay dead)."""
        with self._lock:
            dead = list(self._sockets)
            self._sockets.clear()
        self._blackholed.clear()
        # A blackholed connection never recovers: it is left open until closed here, after
        # the test has seen both ends give it up.
        for sock in dead:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        self._listener.settimeout(POLL)
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                thread = threading.Thread(target=self._pump, args=(source, target), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        while not self._closed.is_set():
            try:
                ready, _, _ = select.select([source], [], [], POLL)
                if not ready:
                    continue
                data = source.recv(BUFFER)
                if not data:
                    break
                if not self._blackholed.is_set():
                    target.sendall(data)
            except (OSError, ValueError):  # closed under us by heal() or close()
                return
        if not self._blackholed.is_set():  # a blackhole passes no end-of-stream on either
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
        for thread in self._threads:
            thread.join(5)
