"""A TCP proxy that stages dependency faults between a service and a real server (loopback only).

    with FaultProxy(target_port=5432) as proxy:   # listens on 127.0.0.1:<proxy.port>
        ...point the service at proxy.port...
        proxy.freeze()    # a hang: connections stay open, no byte goes through either way
        proxy.thaw()      # bytes flow again (what was held back is delivered)
        proxy.refuse()    # an outage: the listener closes (connects are refused), live
                          # connections are reset
        proxy.restore()   # listening and forwarding again, on the same port

A frozen proxy still accepts new connections (the kernel of a hung server does too) and holds
them until the thaw, like a network partition or a stuck failover; a refusing one looks like a
server that is down. The proxy runs its own event loop in a daemon thread, so tests call it from
plain synchronous code; every method returns once the change is in effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

LOOPBACK = "127.0.0.1"
CHUNK = 65536


class FaultProxy:
    """Forward 127.0.0.1:`port` to `target_host`:`target_port`, with faults on demand."""

    def __init__(self, target_port: int, *, target_host: str = LOOPBACK, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.port = port  # 0: the kernel picks a free one at start()
        self.accepted = 0  # connections accepted since start, for the figures
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._flowing = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()  # both ends of every connection
        self._clients: set[asyncio.StreamWriter] = set()

    # --- the public API (call from any thread but the proxy's) ---------------------------------

    @property
    def mode(self) -> str:
        """'forwarding', 'frozen' or 'refusing'."""
        if self._server is None:
            return "refusing"
        return "forwarding" if self._flowing.is_set() else "frozen"

    @property
    def open_connections(self) -> int:
        """Client connections currently held (forwarded or waiting for a thaw)."""
        return len(self._clients)

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        self._call(self._set_flowing(True))
        return self

    def freeze(self) -> None:
        """Stop forwarding bytes; keep every connection and the listener open."""
        self._call(self._set_flowing(False))

    def thaw(self) -> None:
        """Forward again, after freeze()."""
        self._call(self._set_flowing(True))

    def refuse(self) -> None:
        """Close the listener (new connects are refused) and reset every open connection."""
        self._call(self._close(reset=True))

    def restore(self) -> None:
        """Listen on the same port and forward again, after refuse() or freeze()."""
        if self._server is None:
            self._call(self._listen())
        self._call(self._set_flowing(True))

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._close(reset=True))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- inside the proxy's loop ---------------------------------------------------------------

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _set_flowing(self, flowing: bool) -> None:
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, LOOPBACK, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self, *, reset: bool) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if reset:
            self._forget(*self._writers)

    async def _handle(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        self.accepted += 1
        self._writers.add(client)
        self._clients.add(client)
        await self._flowing.wait()  # a frozen proxy holds new connections before the server
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.target)
        except OSError:  # the server is down: so is the proxy, for this client
            self._forget(client)
            return
        self._writers.add(upstream)
        try:
            await asyncio.gather(
                self._pump(client_reader, upstream), self._pump(upstream_reader, client)
            )
        finally:
            self._forget(client, upstream)

    def _forget(self, *writers: asyncio.StreamWriter) -> None:
        for writer in writers:
            self._writers.discard(writer)
            self._clients.discard(writer)
            writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                await self._flowing.wait()
                data = await reader.read(CHUNK)
                if not data:
                    break
                await self._flowing.wait()  # read before a freeze: held until the thaw
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()
