import socket


def free_port() -> int:
    """A free loopback port, for servers that cannot take port 0 (PostgreSQL)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_pair(attempts: int = 50) -> int:
    """A free loopback port whose two successors are free too (the all-in-one's port base: a
    public listener, a node listener on the next port, the console proxy on the one after)."""
    for _ in range(attempts):
        base = free_port()
        if all(_bindable(base + n) for n in (1, 2)):
            return base
    raise RuntimeError(f"no three consecutive free ports in {attempts} attempts")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
