"""The worker's liveness signal: a file it touches every few seconds from its own event loop.

A worker whose loop is stuck (a blocking call, a deadlock) stops touching the file;
`python -m <package>.worker.probe` (an exec probe, the compose healthcheck) then fails and the
platform restarts the worker. The file is removed when the worker stops.
"""

import asyncio
import tempfile
import time
from pathlib import Path

from ..kernel.settings import Settings

# The probe fails after this many missed beats.
MISSED_BEATS = 3


def heartbeat_path(settings: Settings) -> Path:
    if settings.worker_heartbeat_file:
        return Path(settings.worker_heartbeat_file)
    return Path(tempfile.gettempdir()) / f"{settings.service_name}-worker-heartbeat"


class Heartbeat:
    def __init__(self, settings: Settings) -> None:
        self.path = heartbeat_path(settings)
        self.interval = settings.worker_heartbeat_interval_seconds

    @property
    def stale_after(self) -> float:
        return self.interval * MISSED_BEATS

    def beat(self) -> None:
        self.path.touch()

    def stop(self) -> None:
        self.path.unlink(missing_ok=True)

    def age(self) -> float | None:
        """Seconds since the last beat; None when there is no heartbeat file."""
        try:
            return time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return None

    async def run(self) -> None:
        """Beat until cancelled (a task on the worker's event loop)."""
        try:
            while True:
                await asyncio.to_thread(self.beat)
                await asyncio.sleep(self.interval)
        finally:
            self.stop()
