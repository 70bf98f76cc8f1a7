"""The benchmark's markdown: the ratio table, cold start and RSS, and the layer cost table."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from .wrk import WrkResult, cost_us, median_ratio


def milliseconds(value: float) -> str:
    return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"


def cell(ratio: float | None, results: Sequence[WrkResult]) -> str:
    """`ratio (p50 / p99)`, medians over rounds, flagged ⚠ when any round had errors."""
    p50 = statistics.median(r.p50_ms for r in results)
    p99 = statistics.median(r.p99_ms for r in results)
    head = (
        f"{statistics.median(r.rate for r in results):,.0f} req/s"
        if ratio is None
        else f"{ratio:.2f}"
    )
    flag = " ⚠" if any(r.errors for r in results) else ""
    return f"{head} (p50 {milliseconds(p50)} / p99 {milliseconds(p99)}){flag}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def errors_cell(results: Mapping[str, Sequence[WrkResult]]) -> str:
    """Which targets had errors, summed over rounds; `none` when clean."""
    parts = []
    for name, runs in results.items():
        total = WrkResult(
            rate=0,
            p50_ms=0,
            p99_ms=0,
            requests=sum(r.requests for r in runs),
            non_2xx=sum(r.non_2xx for r in runs),
            connect_errors=sum(r.connect_errors for r in runs),
            read_errors=sum(r.read_errors for r in runs),
            write_errors=sum(r.write_errors for r in runs),
            timeouts=sum(r.timeouts for r in runs),
        )
        if total.errors:
            parts.append(f"{name}: {total.describe_errors()}")
    return "; ".join(parts) or "none"


Results = Mapping[tuple[str, str], Sequence[WrkResult]]


def ratio_table(results: Results, endpoints: Mapping[str, str], renders: Sequence[str]) -> str:
    """One row per endpoint: its baseline's req/s, then each render's median ratio."""
    rows = []
    for endpoint, baseline in endpoints.items():
        base = results[(baseline, endpoint)]
        row = [f"`{endpoint}` vs {baseline}", cell(None, base)]
        measured: dict[str, Sequence[WrkResult]] = {baseline: base}
        for name in renders:
            runs = results[(name, endpoint)]
            ratio = median_ratio([r.rate for r in runs], [r.rate for r in base])
            row.append(cell(ratio, runs))
            measured[name] = runs
        rows.append([*row, errors_cell(measured)])
    header = ["endpoint", "baseline", *renders, "errors"]
    return markdown_table(header, rows)


def startup_table(cold: Mapping[str, Sequence[float]], rss: Mapping[str, Sequence[float]]) -> str:
    """Cold start to the first 200 on /livez and idle RSS, medians over rounds."""
    names = list(cold)
    row = [
        f"{statistics.median(cold[name]):.2f} s / {statistics.median(rss[name]):.0f} MiB"
        for name in names
    ]
    return markdown_table(["", *names], [["cold start / idle RSS", *row]])


def cost_table(
    results: Results, full: str, layers: Mapping[str, str], endpoints: Sequence[str]
) -> str:
    """µs per request of each layer: the full app against the same app without the layer."""
    rows = []
    for label, target in layers.items():
        row = [label]
        for endpoint in endpoints:
            with_all = [r.rate for r in results[(full, endpoint)]]
            without = [r.rate for r in results[(target, endpoint)]]
            if 0 in with_all or 0 in without:
                row.append("n/a: no answers in a round")
            else:
                row.append(f"{cost_us(with_all, without):,.0f}")
        rows.append(row)
    full_row = ["(the full app: µs per request)"]
    for endpoint in endpoints:
        rates = [r.rate for r in results[(full, endpoint)] if r.rate]
        full_row.append(
            f"{statistics.median(1e6 / rate for rate in rates):,.0f}" if rates else "n/a"
        )
    header = ["layer removed (or setting changed)", *(f"`{e}` µs/request" for e in endpoints)]
    return markdown_table(header, [full_row, *rows])
