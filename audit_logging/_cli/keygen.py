"""
``audit-logging keygen``: a new Ed25519 checkpoint key pair.

The signer key (``PRIVATE+KEY+...``) is written to ``--out`` with mode 0600 and
never printed; the verifier key (safe to publish: give it to auditors and to
``verify --key``) is printed and written next to it as ``<out>.pub``. Refuses to
overwrite an existing key file (a rotation makes a new key with a new name or file;
keep the old verifier key to verify old checkpoints).
"""

from __future__ import annotations

import argparse
import os
import sys

from audit_logging._cli.common import CLIError, safe_text
from audit_logging._integrity import generate_signing_key

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    The options of ``keygen``.
    """
    parser.add_argument("--name", required=True, help="the key's name, e.g. audit-2026")
    parser.add_argument("--out", required=True, metavar="FILE", help="where the signer key goes")


def run(args: argparse.Namespace) -> int:
    """
    Write the signer key, print the verifier key.
    """
    try:
        key = generate_signing_key(args.name)
    except ValueError as exc:
        raise CLIError(f"--name: {exc}") from None
    path = os.path.abspath(args.out)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise CLIError(f"--out: {exc.strerror}: {safe_text(path, 200)}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key.encode() + "\n")
    public = key.verifier.encode()
    with open(path + ".pub", "w", encoding="utf-8") as fh:
        fh.write(public + "\n")
    sys.stdout.write(public + "\n")
    return 0
