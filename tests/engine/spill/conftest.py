"""
Fixtures of the spill store tests: a fresh directory and a store on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from audit_logging.spillover import SpillStore


@pytest.fixture
def spill_dir(tmp_path: Path) -> Path:
    return tmp_path / "spill"


@pytest.fixture
def store(spill_dir: Path) -> Any:
    s = SpillStore(spill_dir)
    yield s
    s.close()
