"""
``python -m benchmarks``: every benchmark against its named peer, one table, one JSON file.

Each benchmark runs in its own interpreter (see ``suite.py``) and measures audit_logging
and its peer in interleaved rounds of the same run. The table lists, per metric, both
medians, their ratio, the target of the issue that set one, and the verdict; the JSON file
holds the same rows plus the machine, the versions and every benchmark's raw samples.

Examples::

    python -m benchmarks                     # full run (~6 min), writes benchmarks/results.json
    python -m benchmarks --quick             # smoke run (under a minute)
    python -m benchmarks --only bus,stdlib   # some benchmarks (see --list)
    python -m benchmarks --markdown PERFORMANCE.md   # also rewrite the table there
    python -m benchmarks --from-json benchmarks/results.json --markdown PERFORMANCE.md

Exit status: 0 when every selected benchmark completed (missed targets are reported, not
enforced), 1 when one crashed or timed out, or with ``--strict`` when a target was missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.suite import BENCHMARKS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = Path(__file__).with_name("results.json")


def _names(values: list[str] | None) -> list[str]:
    """
    ``--only a,b --only c`` -> ``[a, b, c]`` in registry order; unknown names are an error.
    """
    if not values:
        return list(BENCHMARKS)
    wanted = {n.strip() for v in values for n in v.replace(",", " ").split() if n.strip()}
    unknown = wanted - set(BENCHMARKS)
    if unknown:
        raise SystemExit(
            f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(BENCHMARKS)}"
        )
    return [n for n in BENCHMARKS if n in wanted]


def _run_child(name: str, profile: str) -> dict[str, Any]:
    """
    One benchmark in a fresh interpreter; returns status, duration, raw result and rows.
    """
    spec = BENCHMARKS[name]
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "out.json"
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks.suite", name, profile, str(out)],
                cwd=ROOT,
                timeout=spec.timeout(profile),
                check=False,
            )
        except subprocess.TimeoutExpired:
            status, error = "timeout", f"did not finish within {spec.timeout(profile):.0f} s"
        else:
            if proc.returncode == 0 and out.exists():
                status, error = "ok", None
            else:
                status, error = "error", f"exit status {proc.returncode}"
        elapsed = time.perf_counter() - start
        payload = json.loads(out.read_text(encoding="utf-8")) if status == "ok" else {}
    return {
        "status": status,
        "error": error,
        "duration_s": round(elapsed, 1),
        "result": payload.get("result"),
        "row_specs": payload.get("rows", []),
    }


def _servers(benchmarks: dict[str, Any]) -> dict[str, str]:
    """
    Server versions the database benchmark met (they matter as much as the client's).
    """
    db = (benchmarks.get("database") or {}).get("result") or {}
    labels = {"postgresql": "PostgreSQL", "mariadb": "MariaDB", "sqlite": "SQLite"}
    servers = {
        labels[k]: db[k]["server_version"]
        for k in labels
        if isinstance(db.get(k), dict) and db[k].get("server_version")
    }
    if "kafka" in benchmarks:
        servers["Kafka"] = "librdkafka mock cluster (1 broker, in a child process)"
    return servers


def run(names: list[str], profile: str, command: str) -> dict[str, Any]:
    """
    Run the selected benchmarks one after another; returns the whole report.
    """
    started = dt.datetime.now(dt.UTC)
    machine = report.machine_info()
    benchmarks: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for i, name in enumerate(names, 1):
        print(f"\n== [{i}/{len(names)}] {name}: {BENCHMARKS[name].description}", flush=True)
        outcome = _run_child(name, profile)
        specs = outcome.pop("row_specs")
        benchmarks[name] = outcome
        if outcome["status"] == "ok":
            rows += [report.finish_row(name, spec) for spec in specs]
        else:
            rows.append(report.error_row(name, outcome["error"]))
        print(f"== {name}: {outcome['status']} in {outcome['duration_s']:.1f} s", flush=True)
    return {
        "format": report.FORMAT_VERSION,
        "profile": profile,
        "command": command,
        "started_utc": started.strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": round(time.perf_counter() - t0, 1),
        "machine": machine,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "servers": _servers(benchmarks),
        "summary": report.summary(rows),
        "rows": rows,
        "benchmarks": benchmarks,
    }


def main(argv: list[str] | None = None) -> int:
    """
    Parse options, run (or reload) the report, print it and write it out.
    """
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="few, short rounds: a smoke test")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAMES",
        help=f"comma-separated benchmarks to run (default all: {','.join(BENCHMARKS)})",
    )
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help=f"report file (default {DEFAULT_JSON})"
    )
    parser.add_argument(
        "--markdown", type=Path, help="rewrite the generated section of this file (PERFORMANCE.md)"
    )
    parser.add_argument(
        "--from-json", type=Path, help="do not run: reload a saved report and print/write it"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, spec in BENCHMARKS.items():
            print(f"{name:10} {spec.description}")
        return 0
    if args.from_json:
        result = json.loads(args.from_json.read_text(encoding="utf-8"))
    else:
        command = " ".join(["python -m benchmarks", *argv])
        result = run(_names(args.only), "quick" if args.quick else "full", command)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report.write_json(args.json, result)
    print()
    print("\n".join(report.table_lines(result["rows"])))
    counts = result["summary"]
    print("\n" + ", ".join(f"{n} {k}" for k, n in counts.items() if n), end="")
    print(f"; {result['duration_s']:.0f} s; profile {result['profile']}")
    if not args.from_json:
        print(f"report written to {args.json}")
    if args.markdown:
        report.write_markdown(args.markdown, result)
        print(f"table written to {args.markdown}")
    if counts.get("error"):
        return 1
    return 1 if args.strict and counts.get("FAIL") else 0


if __name__ == "__main__":
    sys.exit(main())
