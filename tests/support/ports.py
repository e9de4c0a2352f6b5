import socket


def free_port() -> int:
    """A free loopback port, for servers that cannot take port 0 (PostgreSQL)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
