"""``audit-logging verify`` and ``keygen``: exit status, one line per finding, --json."""

from __future__ import annotations

import json
import os
import stat

from audit_logging._cli.main import main
from tests.integrity._support import lines, put_lines, write_trail


def test_keygen_writes_a_private_key_and_prints_the_public_one(tmp_path, capsys):
    """The signer key file is 0600 and never printed; the verifier key is."""
    out = tmp_path / "ck.key"
    assert main(["keygen", "--name", "audit-2026", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("audit-2026+")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert out.read_text().startswith("PRIVATE+KEY+audit-2026+")
    assert out.read_text().split("+", 4)[-1].strip() not in printed
    assert (tmp_path / "ck.key.pub").read_text().strip() == printed
    assert main(["keygen", "--name", "x", "--out", str(out)]) == 2  # never overwrites


def test_clean_trail_exits_0(tmp_path, capsys):
    """A clean trail prints OK and exits 0."""
    path = tmp_path / "a.jsonl"
    key, _ = write_trail(path, 20)
    assert main(["verify", "--file", str(path), "--key", key.verifier.encode()]) == 0
    assert capsys.readouterr().out.startswith("OK: 20 record(s) in 1 stream(s)")


def test_changed_trail_exits_1_naming_the_defect(tmp_path, capsys):
    """An edited line makes verify exit 1 with the defect and its location."""
    path = tmp_path / "a.jsonl"
    key, _ = write_trail(path, 20)
    data = lines(path)
    data[3] = data[3].replace(b'"user":"u3"', b'"user":"u4"')
    put_lines(path, data)
    assert main(["verify", "--file", str(path), "--key", key.verifier.encode()]) == 1
    out = capsys.readouterr().out
    assert f"DEFECT edited: {path}:4:" in out
    assert "CHANGED" in out


def test_json_output(tmp_path, capsys):
    """--json prints one object with ok, counts and findings."""
    path = tmp_path / "a.jsonl"
    key, _ = write_trail(path, 20)
    put_lines(path, lines(path)[:-2])
    keys = tmp_path / "keys"
    keys.write_text(key.verifier.encode() + "\n")
    assert main(["verify", "--file", str(path), "--keys", str(keys), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False
    assert result["findings"][0]["kind"] == "truncated"
    assert result["findings"][0]["defect"] is True


def test_strict_fails_on_an_unverified_tail(tmp_path, capsys):
    """A crashed writer's tail is a note; --strict turns it into a failure."""
    path = tmp_path / "a.jsonl"
    key, handler = write_trail(path, 15, close=False)
    pub = key.verifier.encode()
    assert main(["verify", "--file", str(path), "--key", pub]) == 0
    assert main(["verify", "--file", str(path), "--key", pub, "--strict"]) == 1
    assert "note unverified_tail" in capsys.readouterr().out
    handler.close()


def test_no_key_is_a_usage_error(tmp_path, capsys, monkeypatch):
    """Without any trusted key verify exits 2 with one line on stderr."""
    monkeypatch.delenv("AUDIT_INTEGRITY_VERIFIER_KEYS", raising=False)
    path = tmp_path / "a.jsonl"
    write_trail(path, 2)
    assert main(["verify", "--file", str(path)]) == 2
    assert "no trusted key" in capsys.readouterr().err


def test_keys_from_the_environment(tmp_path, monkeypatch):
    """AUDIT_INTEGRITY_VERIFIER_KEYS provides the trusted keys."""
    path = tmp_path / "a.jsonl"
    key, _ = write_trail(path, 5)
    monkeypatch.setenv("AUDIT_INTEGRITY_VERIFIER_KEYS", key.verifier.encode())
    assert main(["verify", "--file", str(path)]) == 0


def test_db_and_missing_file_errors(tmp_path, capsys):
    """A missing file or table is a usage error (exit 2), not a traceback."""
    from audit_logging._integrity import generate_signing_key

    key = generate_signing_key("k").verifier.encode()
    assert main(["verify", "--file", str(tmp_path / "none.jsonl"), "--key", key]) == 2
    assert "no audit file" in capsys.readouterr().err
    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert main(["verify", "--db", db, "--key", key]) == 2
    assert "no table" in capsys.readouterr().err
