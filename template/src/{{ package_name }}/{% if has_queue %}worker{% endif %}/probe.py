"""Worker health probe: `python -m <package>.worker.probe` exits 0 while the worker beats.

The worker touches its heartbeat file every `worker_heartbeat_interval_seconds` (heartbeat.py);
this fails when the file is missing or older than three intervals. It reads the same settings
as the worker, so run it in the worker's container (Kubernetes exec probe, compose healthcheck).
"""

import sys

from ..kernel.settings import get_settings
from .heartbeat import Heartbeat


def probe() -> int:
    heartbeat = Heartbeat(get_settings())
    age = heartbeat.age()
    if age is None:
        problem = f"no heartbeat file at {heartbeat.path}"
    elif age > heartbeat.stale_after:
        problem = f"last heartbeat {age:.1f} s ago (stale after {heartbeat.stale_after:g} s)"
    else:
        return 0
    print(f"worker probe failed: {problem}", file=sys.stderr)  # noqa: T201 - shown by the platform
    return 1


if __name__ == "__main__":
    sys.exit(probe())
