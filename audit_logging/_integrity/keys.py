"""
Ed25519 checkpoint keys with names and ids, in the signed-note key encoding.

The encodings are those of the C2SP signed-note specification (and Go's
``golang.org/x/mod/sumdb/note``), so keys made here work with the transparency
tools of that ecosystem and the other way round:

- signer key:   ``PRIVATE+KEY+<name>+<key id, 8 hex>+<base64(0x01 || 32-byte seed)>``
- verifier key: ``<name>+<key id, 8 hex>+<base64(0x01 || 32-byte public key)>``

The key id is the first four bytes of ``SHA-256(name || "\\n" || 0x01 || public key)``;
it is written in every signature line, so a verifier holding several keys (after a
rotation) picks the right one, and an unknown id is reported as such.

A :class:`SigningKey` never shows its secret: ``repr`` and ``str`` name the key
only, so logging a configuration cannot leak it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "ENV_SIGNING_KEY",
    "ENV_SIGNING_KEY_FILE",
    "ENV_VERIFIER_KEYS",
    "Keyring",
    "SigningKey",
    "VerifierKey",
    "generate_signing_key",
    "load_signing_key",
]

ENV_SIGNING_KEY = "AUDIT_INTEGRITY_KEY"
"""Environment variable holding the signer key (``PRIVATE+KEY+...``)."""
ENV_SIGNING_KEY_FILE = "AUDIT_INTEGRITY_KEY_FILE"
"""Environment variable naming a file that holds the signer key."""
ENV_VERIFIER_KEYS = "AUDIT_INTEGRITY_VERIFIER_KEYS"
"""Environment variable: verifier keys separated by whitespace or commas."""

_ALG_ED25519 = 1


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([_ALG_ED25519]) + public).digest()[:4]


def _check_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name) or not name.isprintable():
        raise ValueError(f"a key name is non-empty printable text without spaces or '+': {name!r}")
    return name


def _decode_key_bytes(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the key's last part is not base64") from None
    if len(raw) != 33 or raw[0] != _ALG_ED25519:
        raise ValueError("only Ed25519 keys (algorithm 1, 32 bytes) are supported")
    return raw[1:]


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """
    A public checkpoint key: its name, 4-byte id and Ed25519 public key.
    """

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey = field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """
        Read ``<name>+<hex id>+<base64(0x01 || key)>``.

        Raises:
            ValueError: the text is not such a key, or its id does not match.
        """
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise ValueError("a verifier key is <name>+<hex id>+<base64 key>")
        name, hex_id, b64 = parts
        public = _decode_key_bytes(b64)
        key_id = _key_id(_check_name(name), public)
        if hex_id.lower() != key_id.hex():
            raise ValueError(f"verifier key {name!r}: the id does not match the key")
        return cls(name, key_id, Ed25519PublicKey.from_public_bytes(public))

    def encode(self) -> str:
        """
        The key in its text form (safe to publish).
        """
        public = self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        raw = base64.b64encode(bytes([_ALG_ED25519]) + public).decode()
        return f"{self.name}+{self.key_id.hex()}+{raw}"

    def verify(self, signature: bytes, message: bytes) -> bool:
        """
        True when ``signature`` is this key's Ed25519 signature of ``message``.
        """
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class SigningKey:
    """
    A private checkpoint key; its text form is shown only by :meth:`encode`.
    """

    __slots__ = ("_private", "verifier")

    def __init__(self, name: str, private: Ed25519PrivateKey) -> None:
        public = private.public_key()
        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._private = private
        self.verifier = VerifierKey(_check_name(name), _key_id(name, raw), public)

    @property
    def name(self) -> str:
        """
        The key's name (written in every signature line).
        """
        return self.verifier.name

    @property
    def key_id(self) -> bytes:
        """
        The 4-byte key id.
        """
        return self.verifier.key_id

    @classmethod
    def parse(cls, text: str) -> SigningKey:
        """
        Read ``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>``.

        Raises:
            ValueError: the text is not such a key (the message never contains it).
        """
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise ValueError("a signer key is PRIVATE+KEY+<name>+<hex id>+<base64 key>")
        name, hex_id, b64 = parts[2:]
        key = cls(name, Ed25519PrivateKey.from_private_bytes(_decode_key_bytes(b64)))
        if hex_id.lower() != key.key_id.hex():
            raise ValueError(f"signer key {name!r}: the id does not match the key")
        return key

    def encode(self) -> str:
        """
        The secret key in its text form: store it like a password.
        """
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        seed = self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        raw = base64.b64encode(bytes([_ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{raw}"

    def sign(self, message: bytes) -> bytes:
        """
        The Ed25519 signature of ``message``.
        """
        return self._private.sign(message)

    def __repr__(self) -> str:
        return f"<SigningKey {self.name} {self.key_id.hex()}>"

    __str__ = __repr__


def generate_signing_key(name: str) -> SigningKey:
    """
    A new random Ed25519 checkpoint key called ``name``.
    """
    return SigningKey(name, Ed25519PrivateKey.generate())


def load_signing_key(
    key: SigningKey | str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> SigningKey | None:
    """
    The signer key from an argument, else ``AUDIT_INTEGRITY_KEY`` or ``AUDIT_INTEGRITY_KEY_FILE``.

    ``key`` may be a :class:`SigningKey`, its text form, or a path to a file holding
    it (so a dictConfig can name a secret mounted as a file). None when nothing is set.

    Raises:
        ValueError: the key is malformed (the message never contains the key).
        OSError: the key file cannot be read.
    """
    if isinstance(key, SigningKey):
        return key
    env = os.environ if environ is None else environ
    if key is None:
        text = env.get(ENV_SIGNING_KEY, "").strip()
        if text:
            return SigningKey.parse(text)
        path = env.get(ENV_SIGNING_KEY_FILE, "").strip()
        if not path:
            return None
        key = path
    text = os.fspath(key)
    if not text.startswith("PRIVATE+KEY+"):
        with open(text, encoding="utf-8") as fh:
            text = fh.read()
    return SigningKey.parse(text)


class Keyring:
    """
    The verifier keys a verification trusts, looked up by name and id (rotation: keep old keys).
    """

    def __init__(self, keys: Iterable[VerifierKey | SigningKey | str] = ()) -> None:
        self._keys: dict[tuple[str, bytes], VerifierKey] = {}
        for key in keys:
            self.add(key)

    def add(self, key: VerifierKey | SigningKey | str) -> None:
        """
        Trust one more key (a signer key is reduced to its public half).
        """
        if isinstance(key, str):
            key = SigningKey.parse(key) if key.startswith("PRIVATE+") else VerifierKey.parse(key)
        if isinstance(key, SigningKey):
            key = key.verifier
        self._keys[(key.name, key.key_id)] = key

    @classmethod
    def from_text(cls, text: str) -> Keyring:
        """
        Keys separated by whitespace or commas (a keys file, or ``AUDIT_INTEGRITY_VERIFIER_KEYS``);
        lines starting with ``#`` are comments.
        """
        lines = (ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
        words = " ".join(lines).replace(",", " ").split()
        return cls(words)

    def get(self, name: str, key_id: bytes) -> VerifierKey | None:
        """
        The trusted key with this name and id, if any.
        """
        return self._keys.get((name, key_id))

    def __len__(self) -> int:
        return len(self._keys)
