"""Measures how long the event loop is blocked, so a sync call in async code shows up per request.

A heartbeat task sleeps for a short interval; when it wakes up late, the loop was busy running
something that did not yield (a sync driver, `time.sleep`, CPU-heavy JSON...). The lateness adds up
in `blocked_seconds`. A request's blocked time is the growth of that total while it was in flight:
the time its own latency suffered from blocking, whichever coroutine caused it.
"""

import asyncio
import contextlib
import time


class LoopMonitor:
    """Cumulative event-loop blocking, sampled by a heartbeat task owned by the lifespan."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._blocked = 0.0
        self._max_lag = 0.0
        self._next_wakeup = 0.0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._next_wakeup = time.perf_counter() + self.interval
        self._task = asyncio.create_task(self._run(), name="loop-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def blocked_seconds(self) -> float:
        """Total blocking so far, including a heartbeat that is overdue right now."""
        if self._task is None:
            return self._blocked
        return self._blocked + max(0.0, time.perf_counter() - self._next_wakeup)

    def take_max_lag(self) -> float:
        """The longest heartbeat delay (event-loop lag) since the previous call, in seconds."""
        lag, self._max_lag = self._max_lag, 0.0
        return lag

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            now = time.perf_counter()
            lag = max(0.0, now - self._next_wakeup)
            self._blocked += lag
            self._max_lag = max(self._max_lag, lag)
            self._next_wakeup = now + self.interval
