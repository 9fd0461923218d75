"""
The combined benchmark report: rows, verdicts, machine description, table, JSON, Markdown.

Each ``bench_*.py`` module turns its own result into *row specs*, plain dicts so that the
scripts stay runnable on their own without importing this module::

    {
        "metric": "publish caller cost",       # what is measured
        "unit": "us/call",                      # us/call, events/s, rows/s, MB, ms
        "ours": 18.9,                           # audit_logging's median (None = skipped)
        "peer": 79.3,                           # the peer's median, same run (None = no peer)
        "peer_name": "stdlib QueueHandler",     # which peer
        "target": {"on": "ratio", "op": "<=", "value": 0.3},  # or on "ours"; None = info
        "issue": 3,                             # the issue that set the target (optional)
        "note": "...",                          # optional
    }

:func:`finish_row` adds ``ratio`` (ours / peer, whatever the direction: for times lower is
better, for rates higher is better, and the target says which) and ``result``: ``pass``,
``FAIL``, ``info`` (no target was set for this comparison: context, not a promise) or
``skipped`` (the benchmark could not run, e.g. a server is down).

Everything here is pure formatting, so a report can be rebuilt from a saved JSON file:
``python -m benchmarks --from-json benchmarks/results.json --markdown PERFORMANCE.md``.
"""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
BEGIN_MARKER = "<!-- benchmarks:begin -->"
END_MARKER = "<!-- benchmarks:end -->"

# Distributions whose versions describe the run: ours and every peer's.
DISTRIBUTIONS = (
    "audit-logging",
    "orjson",
    "loguru",
    "structlog",
    "concurrent-log-handler",
    "python-json-logger",
    "SQLAlchemy",
    "psycopg",
    "PyMySQL",
    "kafka-python",
    "confluent-kafka",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-http",
)

_OPS = {
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
}


def finish_row(benchmark: str, spec: dict[str, Any]) -> dict[str, Any]:
    """
    A full report row from a benchmark's row spec: ratio, target text and verdict.
    """
    row: dict[str, Any] = {
        "benchmark": benchmark,
        "metric": spec["metric"],
        "unit": spec["unit"],
        "ours": spec.get("ours"),
        "peer": spec.get("peer"),
        "peer_name": spec.get("peer_name"),
        "ratio": None,
        "target": spec.get("target"),
        "target_text": target_text(spec.get("target"), spec["unit"]),
        "issue": spec.get("issue"),
        "note": spec.get("note"),
    }
    ours, peer = row["ours"], row["peer"]
    if ours is not None and peer:
        row["ratio"] = ours / peer
    target = row["target"]
    if ours is None:
        row["result"] = "skipped"
    elif target is None:
        row["result"] = "info"
    else:
        value = row["ratio"] if target["on"] == "ratio" else ours
        if value is None:
            row["result"] = "skipped"
        else:
            row["result"] = "pass" if _OPS[target["op"]](value, target["value"]) else "FAIL"
    return row


def error_row(benchmark: str, message: str) -> dict[str, Any]:
    """
    The single row of a benchmark that crashed or timed out.
    """
    return {
        "benchmark": benchmark,
        "metric": "(benchmark did not complete)",
        "unit": "",
        "ours": None,
        "peer": None,
        "peer_name": None,
        "ratio": None,
        "target": None,
        "target_text": "",
        "issue": None,
        "note": message,
        "result": "error",
    }


def target_text(target: dict[str, Any] | None, unit: str) -> str:
    """
    ``<= 0.3x`` for a ratio target, ``>= 50,000 events/s`` for an absolute one.
    """
    if target is None:
        return "-"
    if target["on"] == "ratio":
        return f"{target['op']} {target['value']:g}x"
    return f"{target['op']} {format_value(target['value'], unit)} {unit}"


def format_value(value: float | None, unit: str) -> str:
    """
    A number in the precision its unit deserves.
    """
    if value is None:
        return "-"
    if unit.endswith("/s"):
        return f"{value:,.0f}"
    if unit.startswith("us"):
        return f"{value:.2f}"
    return f"{value:.1f}"


def format_ratio(ratio: float | None) -> str:
    """
    ``0.239x``; three significant digits are all the noise allows.
    """
    if ratio is None:
        return "-"
    return f"{ratio:.3f}x" if ratio < 1 else f"{ratio:.2f}x"


def summary(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """
    How many rows have each verdict.
    """
    counts = {"pass": 0, "FAIL": 0, "info": 0, "skipped": 0, "error": 0}
    for row in rows:
        counts[row["result"]] = counts.get(row["result"], 0) + 1
    return counts


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """
    What the numbers depend on: CPUs, load, Python and every peer's version.
    """
    versions = {dist: _version(dist) for dist in DISTRIBUTIONS}
    try:
        import confluent_kafka

        versions["librdkafka"] = confluent_kafka.libversion()[0]
    except ImportError:
        versions["librdkafka"] = None
    return {
        "cpu_model": _cpu_model(),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "versions": versions,
    }


def table_lines(rows: list[dict[str, Any]], *, markdown: bool = False) -> list[str]:
    """
    The report as text lines: a fixed-width table for a terminal, or a Markdown table.
    """
    header = [
        "benchmark",
        "metric",
        "unit",
        "audit_logging",
        "peer",
        "peer median",
        "ratio",
        "target",
        "result",
    ]
    body = [
        [
            row["benchmark"],
            row["metric"],
            row["unit"],
            format_value(row["ours"], row["unit"]),
            row["peer_name"] or "-",
            format_value(row["peer"], row["unit"]),
            format_ratio(row["ratio"]),
            row["target_text"],
            row["result"] if row["result"] != "FAIL" or not markdown else "**FAIL**",
        ]
        for row in rows
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return lines
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    numeric = {3, 5, 6}
    fmt_rows = []
    for cells in [header, *body]:
        fmt_rows.append(
            "  ".join(
                c.rjust(widths[i]) if i in numeric else c.ljust(widths[i])
                for i, c in enumerate(cells)
            ).rstrip()
        )
    fmt_rows.insert(1, "  ".join("-" * w for w in widths))
    return fmt_rows


def _duration(seconds: float) -> str:
    minutes, sec = divmod(round(seconds), 60)
    return f"{minutes} min {sec:02d} s" if minutes else f"{sec} s"


def machine_lines(report: dict[str, Any]) -> list[str]:
    """
    The machine and run description, as Markdown bullet points.
    """
    m = report["machine"]
    v = {k: val for k, val in m["versions"].items() if val}
    load_end = report.get("load_average_end")
    load = f"{m['load_average']}" + (f" at start, {load_end} at end" if load_end else "")
    servers = report.get("servers") or {}
    lines = [
        f"- Run: {report['started_utc']}, profile `{report['profile']}`, "
        f"{_duration(report['duration_s'])}, command `{report['command']}`",
        f"- CPU: {m['cpu_model']}, nproc {m['nproc']}; load average {load}",
        f"- Python {m['python']} ({m['implementation']}), {m['platform']}",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
    ]
    if servers:
        lines.append("- Servers: " + "; ".join(f"{k}: {val}" for k, val in servers.items()))
    return lines


def markdown_block(report: dict[str, Any]) -> str:
    """
    The generated section of PERFORMANCE.md, markers included.
    """
    counts = report["summary"]
    lines = [
        BEGIN_MARKER,
        "<!-- generated by `python -m benchmarks --markdown PERFORMANCE.md`;"
        " edits between the markers are overwritten -->",
        "",
        *machine_lines(report),
        "- Verdicts: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n),
        "",
        *table_lines(report["rows"], markdown=True),
    ]
    notes = [row for row in report["rows"] if row.get("note")]
    if notes:
        lines += ["", "Notes on rows:", ""]
        lines += [f"- {row['benchmark']} / {row['metric']}: {row['note']}" for row in notes]
    lines += ["", END_MARKER]
    return "\n".join(lines)


def write_markdown(path: Path, report: dict[str, Any]) -> None:
    """
    Replace the text between the markers in ``path`` (append the block if there are none).
    """
    block = markdown_block(report)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(BEGIN_MARKER) + r".*?" + re.escape(END_MARKER), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"
    path.write_text(text, encoding="utf-8")


def write_json(path: Path, report: dict[str, Any]) -> None:
    """
    The whole report (rows, machine, raw results per benchmark) as JSON.
    """
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
