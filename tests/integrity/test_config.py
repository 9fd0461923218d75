"""Integrity through logging.config.dictConfig: plain values only (a key file, a dict)."""

from __future__ import annotations

import logging
import logging.config

import pytest

from audit_logging._integrity import Keyring, generate_signing_key
from audit_logging.integrity import verify_file


@pytest.mark.usefixtures("isolated_handlers")
def test_dictconfig_file_sink_with_a_key_file(tmp_path):
    """A LOGGING dict names the key file and checkpoint options; the trail verifies."""
    key = generate_signing_key("cfg")
    key_file = tmp_path / "ck.key"
    key_file.write_text(key.encode())
    path = tmp_path / "audit.jsonl"
    logging.config.dictConfig(
        {
            "version": 1,
            "handlers": {
                "audit": {
                    "class": "audit_logging.sinks.file.RotatingJSONFileHandler",
                    "filename": str(path),
                    "integrity_key": str(key_file),
                    "integrity": {"checkpoint_every": 2, "checkpoints": str(tmp_path / "cp")},
                }
            },
            "loggers": {"cfg.app": {"handlers": ["audit"], "level": "INFO"}},
        }
    )
    log = logging.getLogger("cfg.app")
    for i in range(5):
        log.info("event %d", i)
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    report = verify_file(path, Keyring([key]), checkpoint_path=tmp_path / "cp")
    assert report.ok(strict=True), [str(f) for f in report.findings]
    assert report.records == 5
