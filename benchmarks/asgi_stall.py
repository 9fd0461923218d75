"""
Event-loop stalls attributable to the bus in an ASGI app (issue #14).

An app under a real uvicorn answers ``GET /`` while a probe task in the same
event loop sleeps 1 ms in a loop and records how late it wakes up. The load is
500 requests/s for ``--seconds`` seconds, from paced client threads in another
process. Two runs in one invocation: the bare app, and the app behind
``ASGIAuditMiddleware`` on an asynchronous bus with the file sink and the
PostgreSQL sink (127.0.0.1:5432, database ``test``). Printed: the probe's
lateness p50/p99/max for each, in milliseconds.

    python -m benchmarks.asgi_stall --seconds 10

Not part of ``python -m benchmarks``: it needs PostgreSQL and takes a free port.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

APP = textwrap.dedent(
    """
    import asyncio, json, os
    lateness = []

    async def probe():
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(0.001)
            lateness.append(loop.time() - start - 0.001)

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    app.task = asyncio.get_running_loop().create_task(probe())
                    await send({"type": "lifespan.startup.complete"})
                else:
                    app.task.cancel()
                    with open(os.environ["STALL_OUT"], "w") as out:
                        json.dump(lateness, out)
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    if os.environ.get("STALL_MW") == "1":
        from audit_logging.bus import Bus
        from audit_logging.events import EVENT_ANY
        from audit_logging.middleware import ASGIAuditMiddleware
        from audit_logging.sinks.database import DatabaseHandler
        from audit_logging.sinks.file import RotatingJSONFileHandler

        bus = Bus(spillover_dir=os.environ["STALL_DIR"] + "/spill")
        bus.subscribe(EVENT_ANY, RotatingJSONFileHandler(os.environ["STALL_DIR"] + "/a.jsonl"),
                      name="file")
        bus.subscribe(EVENT_ANY, DatabaseHandler(os.environ["STALL_DB"], table="stall_bench"),
                      name="db")
        app = ASGIAuditMiddleware(app, bus)
    """
)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _load(port: int, rate: float, seconds: float, threads: int = 5) -> int:
    per = rate / threads
    done = [0] * threads

    def client(k: int) -> None:
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start = time.perf_counter()
        n = int(per * seconds)
        for i in range(n):
            wait = start + i / per - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            con.request("GET", "/")
            con.getresponse().read()
            done[k] += 1
        con.close()

    workers = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done)


def run(middleware: bool, seconds: float, db: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "stall_app.py").write_text(APP)
        out = Path(tmp) / "lateness.json"
        port = _port()
        env = {
            **os.environ,
            "PYTHONPATH": f"{tmp}{os.pathsep}{Path(__file__).parents[1]}",
            "STALL_OUT": str(out),
            "STALL_MW": "1" if middleware else "0",
            "STALL_DIR": tmp,
            "STALL_DB": db,
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "stall_app:app",
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=tmp,
            env=env,
        )
        try:
            for _ in range(600):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            answered = _load(port, 500, seconds)
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
        samples = sorted(json.loads(out.read_text()))
    ms = [s * 1000 for s in samples]
    return {
        "requests": answered,
        "probes": len(ms),
        "p50_ms": ms[len(ms) // 2],
        "p99_ms": ms[int(len(ms) * 0.99)],
        "max_ms": ms[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--db", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    for middleware in (False, True, False, True):
        label = "middleware + file + PostgreSQL" if middleware else "bare app"
        print(f"{label:32} {run(middleware, args.seconds, args.db)}", flush=True)


if __name__ == "__main__":
    main()
