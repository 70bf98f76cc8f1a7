"""Draining after SIGTERM: answer on keep-alive connections before the server closes them.

Uvicorn's shutdown (in `python -m <package>`, in its worker processes and in gunicorn's uvicorn
workers alike) stops accepting and at once closes every keep-alive connection that has no
request in progress. A client that has just sent its next request on one (a load balancer
reusing a pooled connection) sees the connection close without an answer. So SIGTERM first
starts a drain: for `shutdown_drain_seconds` the server keeps serving, every response carries
`Connection: close` (uvicorn closes the connection after it; the client opens a new one for its
next request, to another pod) and /readyz answers 503. Then the server's own shutdown runs, and
by then almost no keep-alive connection is left to close under a client's feet.
"""

import asyncio
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..kernel.logging import get_logger

logger = get_logger("shutdown")
SignalHandler = Callable[[int, FrameType | None], Any]


class Drain:
    """Whether this process drains; started by SIGTERM (`on_sigterm`)."""

    def __init__(self) -> None:
        self.started = False

    @asynccontextmanager
    async def on_sigterm(self, seconds: float) -> AsyncIterator[None]:
        """While the lifespan runs: SIGTERM starts the drain and, `seconds` later, reaches the
        server's own handler (a second SIGTERM reaches it at once).

        Only where a server installed a Python handler in the main thread (uvicorn does before
        the lifespan starts); in-process test clients leave signals alone.
        """
        server_handler = signal.getsignal(signal.SIGTERM)
        if threading.current_thread() is not threading.main_thread() or not callable(
            server_handler
        ):
            yield
            return
        loop = asyncio.get_running_loop()

        def start_drain(signum: int, frame: FrameType | None) -> None:
            if self.started:
                server_handler(signum, frame)
                return
            self.started = True
            # A signal handler may run between any two bytecodes: hand over to the loop.
            loop.call_soon_threadsafe(self._stop_later, loop, seconds, server_handler, signum)

        signal.signal(signal.SIGTERM, start_drain)
        try:
            yield
        finally:
            if signal.getsignal(signal.SIGTERM) is start_drain:
                signal.signal(signal.SIGTERM, server_handler)

    @staticmethod
    def _stop_later(
        loop: asyncio.AbstractEventLoop, seconds: float, handler: SignalHandler, signum: int
    ) -> None:
        logger.info("draining", seconds=seconds)
        loop.call_later(seconds, handler, signum, None)


class DrainMiddleware:
    """Once the drain started, every response says `Connection: close`."""

    def __init__(self, app: ASGIApp, *, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and self.drain.started:
                MutableHeaders(scope=message)["Connection"] = "close"
            await send(message)

        await self.app(scope, receive, send_closing)
