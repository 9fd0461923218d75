"""
Smoke tests of the benchmark report, ``python -m benchmarks`` (issue 8, "one benchmark report").

No RELIABILITY scenario: these prove the report tooling, not a delivery guarantee. Pass
criteria: a quick run of one cheap benchmark exits 0 within its time bound and writes a
JSON report whose rows carry both medians, their ratio, the target and a verdict; the
Markdown section is rewritten between its markers and the text around it is kept; the
verdict logic says pass/FAIL/info/skipped as the targets require. The numbers themselves
are not asserted (the machine is shared; a benchmark is not a test).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import report

ROOT = Path(__file__).resolve().parent.parent
ROW_KEYS = {
    "benchmark",
    "metric",
    "unit",
    "ours",
    "peer",
    "peer_name",
    "ratio",
    "target",
    "target_text",
    "result",
}


@pytest.mark.timeout(60)
def test_quick_run_of_one_benchmark_writes_the_report(tmp_path: Path) -> None:
    """`python -m benchmarks --quick --only events` writes JSON rows and the Markdown section."""
    out, md = tmp_path / "results.json", tmp_path / "PERFORMANCE.md"
    md.write_text(
        f"# Performance\n\nkept above\n\n{report.BEGIN_MARKER}\nold table\n"
        f"{report.END_MARKER}\n\nkept below\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks", "--quick", "--only", "events"),
            *("--json", str(out), "--markdown", str(md)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["profile"] == "quick"
    assert data["benchmarks"]["events"]["status"] == "ok"
    assert {"cpu_model", "nproc", "load_average", "python", "versions"} <= set(data["machine"])
    rows = data["rows"]
    assert rows
    assert all(row["benchmark"] == "events" for row in rows)
    for row in rows:
        assert set(row) >= ROW_KEYS
        assert row["result"] in {"pass", "FAIL", "info"}
        assert row["ours"] > 0
        assert row["peer"] > 0
        assert row["ratio"] == pytest.approx(row["ours"] / row["peer"])
    assert sum(data["summary"].values()) == len(rows)
    text = md.read_text(encoding="utf-8")
    assert "kept above" in text
    assert "kept below" in text
    assert "old table" not in text
    assert text.count(report.BEGIN_MARKER) == 1
    assert "| events | build + encode" in text


def test_unknown_benchmark_name_is_refused() -> None:
    """`--only` with a name not in the registry exits with an error naming it."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "events,nosuch"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode != 0
    assert "nosuch" in proc.stderr


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"ours": 1.0, "peer": 4.0, "target": {"on": "ratio", "op": "<=", "value": 0.3}}, "pass"),
        ({"ours": 2.0, "peer": 4.0, "target": {"on": "ratio", "op": "<=", "value": 0.3}}, "FAIL"),
        ({"ours": 9.0, "peer": 4.0, "target": {"on": "ratio", "op": ">=", "value": 2.0}}, "pass"),
        ({"ours": 6e4, "peer": 9e4, "target": {"on": "ours", "op": ">=", "value": 5e4}}, "pass"),
        ({"ours": 7.2, "peer": None, "target": {"on": "ours", "op": "<", "value": 50}}, "pass"),
        ({"ours": 1.0, "peer": 2.0, "target": None}, "info"),
        ({"ours": None, "peer": 2.0, "target": {"on": "ratio", "op": ">=", "value": 1}}, "skipped"),
    ],
)
def test_verdicts_follow_the_target(spec: dict[str, object], expected: str) -> None:
    """A row passes only when its ratio (or its own value) meets the target's bound."""
    row = report.finish_row("b", {"metric": "m", "unit": "us/call", **spec})
    assert row["result"] == expected


def test_every_benchmark_script_is_in_the_suite() -> None:
    """One script per measurement, each registered: no stray near-duplicate (asgi_stall.py
    was folded into bench_asgi.py, issue 14) measures outside ``python -m benchmarks``."""
    from benchmarks.suite import BENCHMARKS

    directory = ROOT / "benchmarks"
    scripts = {path.stem for path in directory.glob("*.py")}
    assert scripts - {"__init__", "__main__", "report", "suite"} == {
        spec.module for spec in BENCHMARKS.values()
    }
