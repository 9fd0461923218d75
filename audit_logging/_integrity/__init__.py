"""
Tamper evidence: hash-chained records in per-writer streams, RFC 6962 Merkle roots,
Ed25519-signed checkpoints (C2SP signed-note) and their verification.

What other layers use (import these names from here):

- writing: :class:`Chain` (one stream), :func:`resolve_integrity` and
  :class:`IntegritySettings` (the sinks' options), :class:`FileCheckpointStore`,
  :func:`line_suffix` / :func:`record_leaf` (how a record is hashed and stored),
  :func:`replaying` / :func:`is_replaying` (spill replays are marked);
- verifying: :class:`StreamVerifier`, :class:`Report`, :class:`Finding`, :class:`Kind`,
  :func:`split_line`, :class:`Sealed`, :func:`read_checkpoint_lines`;
- keys: :class:`SigningKey`, :class:`VerifierKey`, :class:`Keyring`,
  :func:`generate_signing_key`, :func:`load_signing_key`.

Modules: ``merkle`` (tree hashing), ``records`` (what is hashed), ``keys``,
``checkpoint`` (the note format), ``chain`` (the writer), ``settings``, ``filestore``,
``replaying``, ``verifier`` and ``report``. Only the standard library,
``cryptography`` (Ed25519) and the model's JSON encoding are used.
"""

from __future__ import annotations

from audit_logging._integrity.chain import Chain, CheckpointStore
from audit_logging._integrity.checkpoint import Checkpoint, parse_note, sign_checkpoint
from audit_logging._integrity.filestore import FileCheckpointStore, read_checkpoint_lines
from audit_logging._integrity.keys import (
    ENV_SIGNING_KEY,
    ENV_SIGNING_KEY_FILE,
    ENV_VERIFIER_KEYS,
    Keyring,
    SigningKey,
    VerifierKey,
    generate_signing_key,
    load_signing_key,
)
from audit_logging._integrity.records import Sealed, line_suffix, record_leaf, split_line
from audit_logging._integrity.replaying import is_replaying, replaying
from audit_logging._integrity.report import Finding, Kind, Report
from audit_logging._integrity.settings import IntegritySettings, resolve_integrity
from audit_logging._integrity.verifier import StreamVerifier

__all__ = [
    "ENV_SIGNING_KEY",
    "ENV_SIGNING_KEY_FILE",
    "ENV_VERIFIER_KEYS",
    "Chain",
    "Checkpoint",
    "CheckpointStore",
    "FileCheckpointStore",
    "Finding",
    "IntegritySettings",
    "Keyring",
    "Kind",
    "Report",
    "Sealed",
    "SigningKey",
    "StreamVerifier",
    "VerifierKey",
    "generate_signing_key",
    "is_replaying",
    "line_suffix",
    "load_signing_key",
    "parse_note",
    "read_checkpoint_lines",
    "record_leaf",
    "replaying",
    "resolve_integrity",
    "sign_checkpoint",
    "split_line",
]
