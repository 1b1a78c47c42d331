"""A free TCP port for the rendezvous of a multi-process test (tests may run in parallel: never a fixed port)."""

import socket


def free_port() -> int:
    """A port that the operating system reports free right now (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
