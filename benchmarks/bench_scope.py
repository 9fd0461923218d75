"""
What binding an actor and an origin adds to every event (issue 15: under 1 us per event).

Every factory reads the bound scope (one ``ContextVar.get``) and, when one is bound,
stores its actor and origin on the event; encoding then writes two more objects. This
measures, in interleaved rounds of the same process, ``new_auth_login("api", "u42")``:

- **unbound**: nothing bound (the baseline: what every event paid before issue 15);
- **bound**: inside ``bind_actor(...)`` and ``bind_origin(...)``, a full actor and a
  request-like origin;
- **request scope**: inside the scope the WSGI ``AuditMiddleware`` binds for a request:
  the origin from a real WSGI environ (client IP, user agent, method, path, masked
  query) and the actor found by a ``resolve_actor`` callable, as the Flask and Django
  adapters do (resolved once, then kept);
- **anonymous request**: the same scope whose resolver never finds a user, so it is
  asked again on every event (the worst case of the lazy actor);

each both built alone and built + encoded (``to_json_bytes``, where the two objects
are written). The rows report the medians of bound and request scope against unbound,
and the median of the per-round differences (the cases of a round run back to back,
with the garbage collector off: the events are acyclic), whose target is < 1 us.

``--instructions`` also counts CPU instructions per event with valgrind's callgrind
(a run of N events minus a run of 0, per case): a number that does not move with the
load of a shared machine.

Usage::

    python benchmarks/bench_scope.py [--rounds 15] [--quick] [--json PATH] [--instructions]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from audit_logging.context import Actor, bind_actor, bind_origin
from audit_logging.factories import new_auth_login

ROOT = Path(__file__).resolve().parent.parent
TARGET_US = 1.0
DEFAULT_JSON = Path(__file__).with_name("results-scope.json")
ENVIRON = {
    "REQUEST_METHOD": "POST",
    "PATH_INFO": "/orders/42/items",
    "QUERY_STRING": "page=2&token=s3cr3t",
    "REMOTE_ADDR": "10.0.0.5",
    "HTTP_X_FORWARDED_FOR": "203.0.113.9",
    "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
}
ACTOR = Actor(user_id="42", username="alice@example.com", auth_method="session")


@contextmanager
def _unbound() -> Iterator[None]:
    yield


@contextmanager
def _bound() -> Iterator[None]:
    with (
        bind_actor(ACTOR),
        bind_origin(
            client_ip="203.0.113.9",
            user_agent=ENVIRON["HTTP_USER_AGENT"],
            method="POST",
            path="/orders/42/items",
            query="page=2&token=****",
        ),
    ):
        yield


def _request_scope(resolve: Callable[[], Actor | None]) -> Any:
    from audit_logging._instrument.origin import trusted_networks, wsgi_origin
    from audit_logging._model.scope import Scope, bind_scope

    origin = wsgi_origin(ENVIRON, ENVIRON["PATH_INFO"], trusted_networks("10.0.0.0/8"))
    return bind_scope(Scope(None, origin, resolve_actor=resolve))


CASES: dict[str, Callable[[], Any]] = {
    "unbound": _unbound,
    "bound": _bound,
    "request": lambda: _request_scope(lambda: ACTOR),
    "anonymous": lambda: _request_scope(lambda: None),
}


def _build() -> object:
    return new_auth_login("api", "u42")


def _encode() -> object:
    return new_auth_login("api", "u42").to_json_bytes()


def _round(func: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        func()
    return (time.perf_counter() - start) / number


PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"rounds": 5, "number": 5_000},
    "full": {"rounds": 31, "number": 20_000},
}


def measure(rounds: int = 31, number: int = 20_000) -> dict[str, Any]:
    """
    Interleaved rounds of every case x (build, build + encode); medians in us per event.
    """
    ops = {"build": _build, "encode": _encode}
    samples: dict[str, list[float]] = {f"{c}/{o}": [] for c in CASES for o in ops}
    gc.collect()
    gc.disable()  # the events are acyclic; a collection landing in one case's round is noise
    try:
        for _ in range(rounds):
            for op, func in ops.items():
                for case, bind in CASES.items():
                    with ExitStack() as stack:
                        stack.enter_context(bind())
                        samples[f"{case}/{op}"].append(_round(func, number))
    finally:
        gc.enable()
    medians = {k: round(statistics.median(v) * 1e6, 4) for k, v in samples.items()}
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "rounds": rounds,
        "events_per_round": number,
        "median_us": medians,
        # The median of the per-round differences: each round's cases ran back to back.
        "added_us": {
            f"{case}/{op}": round(
                statistics.median(
                    (b - u) * 1e6
                    for b, u in zip(samples[f"{case}/{op}"], samples[f"unbound/{op}"], strict=True)
                ),
                4,
            )
            for case in CASES
            if case != "unbound"
            for op in ops
        },
        "samples_us": {k: [round(x * 1e6, 4) for x in v] for k, v in samples.items()},
    }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """
    The report rows: the time binding adds per event (target < 1 us), against the unbound cost.
    """
    out = []
    for case, label in (("bound", "bind_actor + bind_origin"), ("request", "WSGI request scope")):
        for op, what in (("build", "build"), ("encode", "build + encode")):
            out.append(
                {
                    "metric": f"{what} new_auth_login: time added by {label}",
                    "unit": "us/call",
                    "ours": max(result["added_us"][f"{case}/{op}"], 1e-4),
                    "peer": result["median_us"][f"unbound/{op}"],
                    "peer_name": "same event, nothing bound",
                    "target": {"on": "ours", "op": "<", "value": TARGET_US},
                    "issue": 15,
                    "note": "ours = bound minus unbound median; ratio = share of the base cost",
                }
            )
    return out


_PROBE = """
import sys
sys.path.insert(0, {root!r})
from benchmarks.bench_scope import CASES, _build, _encode
func = {{"build": _build, "encode": _encode}}[{op!r}]
with CASES[{case!r}]():
    func()  # warm: imports, caches, the resolver's first answer
    for _ in range({n}):
        func()
"""


def _instructions(case: str, op: str, n: int, valgrind: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        code = _PROBE.format(root=str(ROOT), case=case, op=op, n=n)
        done = subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                f"--callgrind-out-file={tmp}/out",
                sys.executable,
                "-c",
                code,
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        )
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind said no instruction count:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def instructions(n: int = 20_000) -> dict[str, float]:
    """
    CPU instructions per event for each case and op: (run of n events - run of 0) / n.
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RuntimeError("valgrind is not installed")
    out: dict[str, float] = {}
    for case in CASES:
        for op in ("build", "encode"):
            base = _instructions(case, op, 0, valgrind)
            out[f"{case}/{op}"] = round((_instructions(case, op, n, valgrind) - base) / n, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    """
    Run the benchmark; prints medians and what binding adds (reported, not enforced).
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=31, help="interleaved rounds per case")
    parser.add_argument("--number", type=int, default=20_000, help="events per round")
    parser.add_argument("--quick", action="store_true", help="5 short rounds (smoke test)")
    parser.add_argument("--instructions", action="store_true", help="also count with callgrind")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    args = parser.parse_args(argv)
    result = measure(**PROFILES["quick"]) if args.quick else measure(args.rounds, args.number)
    if args.instructions:
        result["instructions_per_event"] = instructions(2_000 if args.quick else 20_000)
    for key, us in result["median_us"].items():
        added = result["added_us"].get(key)
        extra = f"   (+{added * 1000:7.1f} ns)" if added is not None else ""
        ins = result.get("instructions_per_event", {}).get(key)
        extra += f"   {ins:9.1f} instructions" if ins is not None else ""
        print(f"{key:20} median {us:8.4f} us{extra}")
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
