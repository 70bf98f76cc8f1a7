"""The service's JSON log lines, read back from captured output or a process's log file."""

import json
from typing import Any


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON log lines in captured output (other lines, such as tracebacks, are ignored)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
