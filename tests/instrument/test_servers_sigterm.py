"""
``install_sigterm_handler()`` under a real uvicorn, with nothing else closing
the buses (``close_on_shutdown=False``: an app that relies on the recipe).

uvicorn imports the application inside its ``capture_signals`` block, so the
recipe finds uvicorn's handler and chains to it; after the graceful shutdown
uvicorn restores the handler it found (the default action) and raises SIGTERM
again, which killed the process before ``atexit`` could close the bus: rows
were missing. Installed before ``uvicorn.run`` (a script that starts the
server), the restored handler is the recipe's own and the re-raise exits.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tests.instrument._servers import (
    APP_BUS,
    REQUESTS,
    Database,
    database,
    free_port,
    serve_and_stop,
)

pytest.importorskip("uvicorn")

pytestmark = pytest.mark.timeout(180)

__all__ = ["database"]

APP = textwrap.dedent(
    """
    import os
    from audit_logging import install_sigterm_handler
    from audit_logging.middleware import ASGIAuditMiddleware
    from audit_bus import bus

    async def hello(scope, receive, send):
        assert scope["type"] == "http"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app = ASGIAuditMiddleware(hello, bus, close_on_shutdown=False)
    if "RECIPE_INSTALLED" not in os.environ:
        install_sigterm_handler()  # at import, inside uvicorn's signal capture
    """
)

SCRIPT = textwrap.dedent(
    """
    import os, sys
    import uvicorn
    from audit_logging import install_sigterm_handler

    os.environ["RECIPE_INSTALLED"] = "1"
    install_sigterm_handler()  # before the server: uvicorn restores this one and re-raises
    # By import string: uvicorn.run configures logging with dictConfig, which closes every
    # logging.Handler alive at that moment, the sinks of a bus built earlier included.
    uvicorn.run("audit_app:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    """
)


def _files() -> dict[str, str]:
    return {"audit_bus.py": APP_BUS, "audit_app.py": APP, "serve.py": SCRIPT}


@pytest.mark.parametrize("workers", [1, 3])
def test_recipe_installed_at_import_under_uvicorn_keeps_every_request(
    tmp_path: Path, database: Database, workers: int
) -> None:
    """uvicorn (1 and 3 workers) re-raises SIGTERM: the recipe still closes the bus."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "audit_app:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    out = serve_and_stop(tmp_path, database, command, port, _files())
    assert out.answered == REQUESTS
    assert out.rows == out.answered, out.stderr[-2000:]


def test_recipe_installed_before_uvicorn_run_keeps_every_request(
    tmp_path: Path, database: Database
) -> None:
    """A script installing the recipe, then uvicorn.run: the re-raise reaches it and exits."""
    port = free_port()
    command = [sys.executable, "serve.py", str(port)]
    out = serve_and_stop(tmp_path, database, command, port, _files())
    assert out.answered == REQUESTS
    assert out.rows == out.answered, out.stderr[-2000:]
    assert out.returncode == 128 + 15
