"""Loopback ports for the servers and workers a test starts, and one that never answers."""

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


def free_port() -> int:
    """A loopback port nothing listens on (a server or a worker's metrics, started by a test)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the client gives up and closes
    writer.close()


@asynccontextmanager
async def silent_port() -> AsyncIterator[int]:
    """A loopback port that accepts connections and never answers: a partition, a stuck
    failover, a server frozen by a long command."""
    server = await asyncio.start_server(_never_answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
