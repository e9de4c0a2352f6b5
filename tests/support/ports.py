import socket


def free_port() -> int:
    """A free loopback port, for servers that cannot take port 0 (PostgreSQL)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_pair(attempts: int = 50) -> int:
    """A free loopback port whose successor is free too (a public listener and, on the
    next port, a node listener)."""
    for _ in range(attempts):
        base = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", base + 1))
            except OSError:
                continue
        return base
    raise RuntimeError(f"no two consecutive free ports in {attempts} attempts")
