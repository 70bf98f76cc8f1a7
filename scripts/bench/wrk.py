"""Run wrk pinned to a core, parse its `--latency` output, and the ratio maths of the report."""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

WRK_MISSING = "wrk is not installed: apt-get install wrk (Debian's package)"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}  # to milliseconds
_DURATION = r"([\d.]+)(us|ms|s|m)"
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_PERCENTILE = re.compile(rf"^\s+(50|99)(?:\.0+)?%\s+{_DURATION}", re.MULTILINE)
_TOTAL = re.compile(r"^\s+(\d+) requests in", re.MULTILINE)
_NON_2XX = re.compile(r"^\s+Non-2xx or 3xx responses:\s+(\d+)", re.MULTILINE)
_SOCKET = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.MULTILINE
)


@dataclass(frozen=True)
class WrkResult:
    """One wrk measurement: rate, latency percentiles (ms) and every kind of failure."""

    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int = 0
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    timeouts: int = 0

    @property
    def errors(self) -> int:
        return (
            self.non_2xx
            + self.connect_errors
            + self.read_errors
            + self.write_errors
            + self.timeouts
        )

    def describe_errors(self) -> str:
        parts = {
            "non-2xx": self.non_2xx,
            "connect": self.connect_errors,
            "read": self.read_errors,
            "write": self.write_errors,
            "timeouts": self.timeouts,
        }
        return ", ".join(f"{count} {name}" for name, count in parts.items() if count) or "none"


def _milliseconds(value: str, unit: str) -> float:
    return float(value) * UNITS[unit]


def parse(output: str) -> WrkResult:
    """The figures of `wrk --latency` output; ValueError when it is not such output."""
    rate, total = _RATE.search(output), _TOTAL.search(output)
    percentiles = {
        m.group(1): _milliseconds(m.group(2), m.group(3)) for m in _PERCENTILE.finditer(output)
    }
    if rate is None or total is None or set(percentiles) != {"50", "99"}:
        raise ValueError(f"not the output of `wrk --latency`:\n{output}")
    non_2xx = _NON_2XX.search(output)
    socket = _SOCKET.search(output)
    connect, read, write, timeout = (int(n) for n in socket.groups()) if socket else (0, 0, 0, 0)
    return WrkResult(
        rate=float(rate.group(1)),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        connect_errors=connect,
        read_errors=read,
        write_errors=write,
        timeouts=timeout,
    )


def wrk_binary() -> str:
    """The path of wrk; SystemExit with how to install it when it is missing."""
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit(WRK_MISSING)
    return found


def version() -> str:
    result = subprocess.run([wrk_binary(), "-v"], capture_output=True, text=True, check=False)
    first = (result.stdout + result.stderr).strip().splitlines()
    return first[0].split(" [")[0] if first else "wrk"


def run(
    url: str,
    *,
    seconds: float,
    connections: int,
    core: int = 1,
    headers: Sequence[str] = (),
) -> WrkResult:
    """`wrk -t2 -c{connections} -d{seconds}s --latency` pinned to `core`."""
    argv = ["taskset", "-c", str(core), wrk_binary(), "-t2", f"-c{connections}"]
    argv += [f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "5s"]
    for header in headers:
        argv += ["-H", header]
    result = subprocess.run([*argv, url], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} {url} failed:\n{result.stdout}{result.stderr}")
    return parse(result.stdout)


def median_ratio(rates: Sequence[float], baselines: Sequence[float]) -> float:
    """The median of per-round ratios (round i of the target over round i of its baseline)."""
    if not rates or len(rates) != len(baselines):
        raise ValueError("one baseline per round is needed")
    pairs = [(rate, base) for rate, base in zip(rates, baselines, strict=True) if base]
    if not pairs:
        return 0.0
    return statistics.median(rate / base for rate, base in pairs)


def cost_us(full: Sequence[float], without: Sequence[float]) -> float:
    """What a layer costs per request (µs): the median of per-round differences of 1e6/rate,
    the service with every layer against the same service without it."""
    if not full or len(full) != len(without):
        raise ValueError("one measurement without the layer per round is needed")
    return statistics.median(
        1e6 / rate - 1e6 / other for rate, other in zip(full, without, strict=True)
    )
