"""
Proving the trail: checkpoint keys, verification of files, tables and topics.

A public face: the implementation lives in :mod:`audit_logging._integrity` (hashing,
checkpoints, :class:`StreamVerifier`) and in each sink's ``verify`` module. The
database and Kafka verifiers import their client libraries only when called.
"""

from audit_logging._integrity import (
    Checkpoint,
    Finding,
    Keyring,
    Kind,
    Report,
    Sealed,
    SigningKey,
    StreamVerifier,
    VerifierKey,
    generate_signing_key,
    load_signing_key,
    parse_note,
    split_line,
)
from audit_logging._sinks.database import verify_database
from audit_logging._sinks.file import verify_file
from audit_logging._sinks.kafka import verify_kafka, verify_messages

__all__ = [
    "Checkpoint",
    "Finding",
    "Keyring",
    "Kind",
    "Report",
    "Sealed",
    "SigningKey",
    "StreamVerifier",
    "VerifierKey",
    "generate_signing_key",
    "load_signing_key",
    "parse_note",
    "split_line",
    "verify_database",
    "verify_file",
    "verify_kafka",
    "verify_messages",
]
