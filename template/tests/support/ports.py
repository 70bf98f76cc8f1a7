"""Loopback ports for the servers and workers a test starts."""

import socket


def free_port() -> int:
    """A loopback port nothing listens on (a server or a worker's metrics, started by a test)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
