"""A small HTTP/1.1 load generator for drills: many keep-alive clients, every outcome counted.

Written for drills rather than benchmarks (`wrk` measures speed; this tells *what happened* to
each request): every client owns one connection at a time, sends a request, reads the whole
response (Content-Length or chunked), and counts the outcome in one of these buckets:

- `ok` / `statuses`: a complete response (any status; `statuses` counts them by code);
- `refused`: a new connection was refused (the listener is closed or gone);
- `not_accepted`: a new connection reset or closed before a byte of the response: it sat in the
  kernel's backlog when the listener closed (a reset), or the server's shutdown closed it as idle
  (a clean close: uvicorn closes every connection without a request in progress at once, and
  one accepted a moment before has none yet), so the server never read the request;
- `closed_idle`: the server closed a kept-alive connection before a single byte of the response
  (RFC 9112 section 9.6: a server may close an idle connection at any time, and a client retries
  such a request on a new connection, as browsers and HTTP libraries do: the generator retries it);
- `broken`: a response that started but never completed, or a connection reset after the
  request was sent on a *fresh* connection: the request was lost mid-flight.

A drill that promises "every accepted request is answered" asserts `broken == 0` and no 5xx.
Latencies are recorded for complete responses. Loops are bounded by a request count and a
deadline, and only ever target a loopback address.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

LOOPBACK_PREFIXES = ("127.", "localhost", "::1")


@dataclass
class LoadResult:
    """What happened to the requests of one load run."""

    sent: int = 0
    ok: int = 0
    refused: int = 0
    closed_idle: int = 0
    not_accepted: int = 0
    broken: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    # Complete responses whose last byte arrived after `mark()` (e.g. after SIGTERM was sent).
    ok_after_mark: int = 0
    marked_at: float | None = None

    def mark(self) -> float:
        self.marked_at = time.monotonic()
        return self.marked_at

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def percentile(self, share: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def summary(self) -> str:
        rate = self.ok / self.seconds if self.seconds else 0.0
        median = statistics.median(self.latencies) if self.latencies else float("nan")
        errors = ", ".join(f"{k}: {v}" for k, v in self.errors.most_common(5)) or "none"
        after = f", {self.ok_after_mark} answered after the mark" if self.marked_at else ""
        return (
            f"{self.sent} sent, {self.ok} answered ({dict(sorted(self.statuses.items()))})"
            f"{after}, {self.refused} refused, {self.closed_idle} idle closes (retried), "
            f"{self.not_accepted} not accepted, {self.broken} broken, {rate:.0f} req/s over "
            f"{self.seconds:.1f} s, p50 "
            f"{median * 1000:.1f} ms, p99 {self.percentile(0.99) * 1000:.1f} ms; errors: {errors}"
        )


class ClosedError(Exception):
    """The connection closed; `started` says whether any response byte had arrived."""

    def __init__(self, started: bool) -> None:
        super().__init__("connection closed" + (" mid-response" if started else ""))
        self.started = started


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return (status, whether the server asked to close)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise ClosedError(started=bool(exc.partial)) from None
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
    try:
        if headers.get("transfer-encoding") == "chunked":
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            await reader.readexactly(int(headers.get("content-length", "0")))
    except (asyncio.IncompleteReadError, ConnectionError):
        raise ClosedError(started=True) from None
    return status, headers.get("connection") == "close"


@dataclass
class _Run:
    """What the clients of one run share: the target, the request, the budget and the tally."""

    host: str
    port: int
    request: bytes
    result: LoadResult
    budget: int
    deadline: float
    stop: asyncio.Event
    timeout: float
    _reused: set[asyncio.StreamWriter] = field(default_factory=set)  # answered once at least

    def going(self) -> bool:
        return self.budget > 0 and time.monotonic() < self.deadline and not self.stop.is_set()

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout
            )
        except (OSError, TimeoutError) as exc:
            self.result.refused += 1
            self.result.errors[f"connect: {type(exc).__name__}"] += 1
            await asyncio.sleep(0.05)
            return None

    async def exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Send the request and read its response on a kept-alive connection; count the outcome.
        Returns whether the connection may be used again."""
        self.budget -= 1
        self.result.sent += 1
        started = time.monotonic()
        try:
            writer.write(self.request)
            await writer.drain()
            status, close = await asyncio.wait_for(_read_response(reader), self.timeout)
        except (ClosedError, ConnectionError, TimeoutError) as exc:
            started_reply = isinstance(exc, ClosedError) and exc.started
            return self._failed(exc, started_reply=started_reply, reused=writer in self._reused)
        now = time.monotonic()
        self.result.ok += 1
        self.result.statuses[status] += 1
        self.result.latencies.append(now - started)
        if self.result.marked_at is not None and now >= self.result.marked_at:
            self.result.ok_after_mark += 1
        self._reused.add(writer)
        return not close

    def _failed(self, exc: Exception, *, started_reply: bool, reused: bool) -> bool:
        if reused and not started_reply and not isinstance(exc, TimeoutError):
            # An idle keep-alive connection closed by the server: retried on a new connection.
            self.result.closed_idle += 1
            self.budget += 1
            self.result.sent -= 1
        elif not reused and not started_reply and not isinstance(exc, TimeoutError):
            # Reset or closed before a byte on a new connection: it waited in the kernel's
            # backlog when the listener closed, or the shutdown closed it before reading it (a
            # server closes only connections without a request in progress, and answers those
            # that have one); a client retries it elsewhere.
            self.result.not_accepted += 1
            self.result.errors[f"{type(exc).__name__} on a new connection"] += 1
        else:
            self.result.broken += 1
            suffix = " mid-response" if started_reply else (" on a reused" if reused else "")
            self.result.errors[type(exc).__name__ + suffix] += 1
        return False

    async def client(self) -> None:
        while self.going():
            connection = await self.connect()
            if connection is None:
                continue
            reader, writer = connection
            try:
                while self.going() and await self.exchange(reader, writer):
                    pass
            finally:
                self._reused.discard(writer)
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()


async def load(
    host: str,
    port: int,
    path: str,
    *,
    concurrency: int,
    requests: int,
    seconds: float,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    result: LoadResult | None = None,
    stop: asyncio.Event | None = None,
) -> LoadResult:
    """Send up to `requests` GETs to `path` from `concurrency` keep-alive clients, for at most
    `seconds`; `stop` ends the run early. Only loopback hosts are accepted."""
    if not host.startswith(LOOPBACK_PREFIXES):
        raise ValueError(f"drills send traffic to loopback only, not {host!r}")
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode()
    result = result or LoadResult()
    began = time.monotonic()
    run = _Run(
        host, port, request, result, requests, began + seconds, stop or asyncio.Event(), timeout
    )
    try:
        await asyncio.gather(*(run.client() for _ in range(concurrency)))
    finally:  # also when the drill cancels the run
        result.seconds = time.monotonic() - began
    return result
