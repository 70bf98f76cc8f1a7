"""Measures how long the event loop is blocked, so a sync call in async code shows up per request.

A heartbeat task sleeps for a short interval; when it wakes up late, the loop was busy running
something that did not yield (a sync driver, `time.sleep`, CPU-heavy JSON...). The lateness adds up
in `blocked_seconds`. A request's blocked time is the growth of that total while it was in flight:
the time its own latency suffered from blocking, whichever coroutine caused it.

Resolution: a heartbeat later than one interval is a blocking episode and counts in full; less
lateness is the loop's ordinary scheduling noise (timer slack, other coroutines' turns) and counts
as zero, so an idle or merely busy loop reports no blocking however long a request lasts.
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
        self._episodes = 0  # heartbeats later than the resolution so far
        self._reported = 0  # the latest episode a warning has named
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

    def _blocking(self, lag: float) -> float:
        """Lateness as blocking: in full beyond the resolution (one interval), else none."""
        return lag if lag > self.interval else 0.0

    def _overdue(self) -> float:
        """The blocking of a heartbeat that is late right now (an episode in progress)."""
        if self._task is None:
            return 0.0
        return self._blocking(time.perf_counter() - self._next_wakeup)

    def blocked_seconds(self) -> float:
        """Total blocking so far, including a heartbeat that is overdue right now."""
        return self._blocked + self._overdue()

    def episode(self) -> int:
        """The number of the latest blocking episode, one in progress included."""
        return self._episodes + (1 if self._overdue() else 0)

    def claim_report(self, first: int, last: int) -> bool:
        """True for the first caller that saw episodes after `first` up to `last` not yet
        reported: one warning per episode, however many requests were in flight through it."""
        if last <= max(first, self._reported):
            return False
        self._reported = last
        return True

    def take_max_lag(self) -> float:
        """The longest heartbeat delay (event-loop lag) since the previous call, in seconds."""
        lag, self._max_lag = self._max_lag, 0.0
        return lag

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            now = time.perf_counter()
            lag = max(0.0, now - self._next_wakeup)
            if blocked := self._blocking(lag):
                self._blocked += blocked
                self._episodes += 1
            self._max_lag = max(self._max_lag, lag)
            self._next_wakeup = now + self.interval
