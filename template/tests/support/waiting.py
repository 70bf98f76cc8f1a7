"""Waiting on real processes: poll until something holds, or fail with what was awaited and why.

One loop for every wait of the suite (a worker's heartbeat, a job's effect, a span's arrival, a
server's workers): a deadline measured with `time.monotonic()`, and a failure that says what was
awaited, for how long, and what the processes involved were doing (`explain`).
"""

import asyncio
import time
from collections.abc import Awaitable, Callable


def _nothing() -> str:
    return ""


async def wait_for[T](
    check: Callable[[], Awaitable[T | None]],
    *,
    within: float,
    about: str,
    explain: Callable[[], str] = _nothing,
    every: float = 0.05,
) -> T:
    """Poll `check` every `every` seconds until it returns something other than None; return it.

    After `within` seconds, fail with `about` and `explain()` (the processes' logs, what was
    seen). An exception `check` raises (a process that exited) fails the wait at once.
    """
    started = time.monotonic()
    while (found := await check()) is None:
        if time.monotonic() - started > within:
            message, details = f"not within {within:g} s: {about}", explain()
            raise AssertionError(f"{message}\n{details}" if details else message)
        await asyncio.sleep(every)
    return found


async def wait_until(
    predicate: Callable[[], bool],
    *,
    within: float,
    about: str,
    explain: Callable[[], str] = _nothing,
    every: float = 0.05,
) -> float:
    """Poll `predicate` until it is true; return the seconds it took (see `wait_for`)."""
    started = time.monotonic()

    async def check() -> bool | None:
        return True if predicate() else None

    await wait_for(check, within=within, about=about, explain=explain, every=every)
    return time.monotonic() - started
