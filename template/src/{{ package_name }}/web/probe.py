"""Container health probe: `python -m <package>.web.probe /livez`.

Docker's HEALTHCHECK and compose healthchecks call it, so they hit the same paths and port as the
Kubernetes and Cloud Run probes, read from the same settings. Exit 0 when the path answers 2xx.
"""

import sys
import urllib.error
import urllib.request

from ..kernel.settings import get_settings
from .health import LIVENESS_PATH

TIMEOUT_SECONDS = 3
HEALTHY = range(200, 300)


def probe(path: str) -> int:
    url = f"http://127.0.0.1:{get_settings().port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return 0 if response.status in HEALTHY else 1
    except (urllib.error.URLError, TimeoutError) as exc:
        print(f"probe {url} failed: {exc}", file=sys.stderr)  # noqa: T201 - shown by docker inspect
        return 1


if __name__ == "__main__":
    sys.exit(probe(sys.argv[1] if len(sys.argv) > 1 else LIVENESS_PATH))
