"""The benchmark's arithmetic (scripts/bench): wrk's output parsed, ratios and layer costs.

No process runs and nothing is timed: the wrk outputs are real captures (tests/data/wrk_*.txt).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from bench.report import cell, cost_table, markdown_table, ratio_table, startup_table
from bench.wrk import WrkResult, cost_us, median_ratio, parse

DATA = Path(__file__).resolve().parent / "data"


def test_parse_a_captured_run() -> None:
    result = parse((DATA / "wrk_livez.txt").read_text())
    assert result == WrkResult(rate=5367.23, p50_ms=9.05, p99_ms=114.27, requests=16118)
    assert result.errors == 0
    assert result.describe_errors() == "none"


def test_parse_counts_non_2xx_responses() -> None:
    result = parse((DATA / "wrk_not_found.txt").read_text())
    assert result.non_2xx == 7978
    assert result.errors == 7978
    assert result.describe_errors() == "7978 non-2xx"


def test_parse_socket_errors_and_units() -> None:
    text = (DATA / "wrk_livez.txt").read_text()
    text = text.replace("     50%    9.05ms", "     50%  850.00us").replace("114.27ms", "1.53s")
    text = text.replace(
        "  16118 requests",
        "  Socket errors: connect 0, read 3, write 0, timeout 12\n  16118 requests",
    )
    result = parse(text)
    assert result.p50_ms == pytest.approx(0.85)
    assert result.p99_ms == pytest.approx(1530.0)
    assert (result.read_errors, result.timeouts) == (3, 12)
    assert result.describe_errors() == "3 read, 12 timeouts"


def test_parse_refuses_other_output() -> None:
    with pytest.raises(ValueError, match="wrk --latency"):
        parse("unable to connect to 127.0.0.1:1 Connection refused")


def test_ratio_is_the_median_of_per_round_ratios() -> None:
    # Round 2 ran on a slow machine for both: the per-round ratio stays 0.5 there.
    assert median_ratio([500, 100, 520], [1000, 200, 1000]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="baseline per round"):
        median_ratio([1.0], [1.0, 2.0])


def test_cost_is_the_median_of_per_round_differences() -> None:
    # 1000 req/s = 1000 µs a request, 1250 req/s = 800 µs: the layer costs 200 µs.
    assert cost_us([1000, 500, 1000], [1250, 1000, 1250]) == pytest.approx(200.0)
    assert cost_us([1000], [1000]) == 0.0


def test_markdown_table_marks_errors() -> None:
    clean = WrkResult(rate=1000, p50_ms=2.0, p99_ms=9.0, requests=5000)
    failing = WrkResult(rate=200, p50_ms=20.0, p99_ms=900.0, requests=1000, timeouts=4)
    assert cell(0.2, [failing]) == "0.20 (p50 20.0 ms / p99 900 ms) ⚠"
    table = markdown_table(["endpoint", "a"], [["/x", cell(1.0, [clean])]])
    assert table.splitlines()[1] == "|---|---|"


def test_report_tables_from_measurements() -> None:
    def runs(*rates: float) -> list[WrkResult]:
        return [WrkResult(rate=rate, p50_ms=1.0, p99_ms=4.0, requests=100) for rate in rates]

    results = {
        ("base", "/a"): runs(1000, 2000),
        ("svc", "/a"): runs(500, 1000),
        ("full", "/a"): runs(1000, 500),
        ("-x", "/a"): runs(1250, 0),
    }
    table = ratio_table(results, {"/a": "base"}, ["svc"])
    assert "| `/a` vs base | 1,500 req/s (p50 1.0 ms / p99 4.0 ms) | 0.50 (p50" in table
    costs = cost_table(results, "full", {"x": "-x"}, ["/a"])
    assert "| x | n/a: no answers in a round |" in costs
    assert startup_table({"svc": [1.0, 2.0, 3.0]}, {"svc": [50.0, 60.0, 70.0]}).endswith(
        "| cold start / idle RSS | 2.00 s / 60 MiB |"
    )
