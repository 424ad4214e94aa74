"""The sealing key: an Ed25519 key pair kept outside the store, in a file only its owner may read.

The private key is made on the first start (``ensure``), in ``CCAUDIT_SEAL_KEY_FILE`` (default
``<data_dir>/seal-keys/ed25519.pem``). Each seal names the id of the key that signed it: the first 16
hex digits of SHA-256 of the raw public key. The public keys of every key ever used are kept beside
the private key in ``public-keys.json`` (id → raw public key, hex) and copied into the seal folder,
so a verifier finds them without the private key. ``rotate`` makes a new key and deletes the old
private key; its public key stays in the list.

A private key that is missing after seals were made, or unreadable, is not replaced: it would start
a chain no one can tell from a forgery. ``load`` raises :class:`SealKeyError` and the sealer stops,
loudly (see ccaudit.seal.sealer).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ccaudit.errors import CcauditError

PUBLIC_KEYS = "public-keys.json"


class SealKeyError(CcauditError):
    """The sealing key cannot be used: no seal is made until it is fixed."""


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_hex(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    key_id: str

    def sign(self, payload: bytes) -> str:
        return self.private.sign(payload).hex()


def _write_private(path: Path, private: Ed25519PrivateKey) -> None:
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def public_keys_file(key_file: Path) -> Path:
    return key_file.parent / PUBLIC_KEYS


def read_public_keys(path: Path) -> dict[str, str]:
    """Key id → raw public key (hex) from a ``public-keys.json``; empty when there is none."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {str(k): str(v) for k, v in data.items()}


def _add_public(key_file: Path, private: Ed25519PrivateKey) -> None:
    path = public_keys_file(key_file)
    keys = read_public_keys(path)
    keys[key_id(private.public_key())] = public_hex(private.public_key())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(keys, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def ensure(key_file: Path) -> bool:
    """Make the key pair if this deployment never had one; True if it was made now. A deployment
    that had a key (its public key list exists) gets no new one silently."""
    if key_file.exists():
        return False
    if read_public_keys(public_keys_file(key_file)):
        return False
    private = Ed25519PrivateKey.generate()
    _write_private(key_file, private)
    _add_public(key_file, private)
    return True


def load(key_file: Path) -> SigningKey:
    """The private key; :class:`SealKeyError` saying what is wrong when it cannot be used."""
    try:
        data = key_file.read_bytes()
    except FileNotFoundError:
        raise SealKeyError(
            f"the sealing key {key_file} is missing (CCAUDIT_SEAL_KEY_FILE): no seals are made; restore it, "
            "or make a new one with `ccaudit seal rotate-key` (the chain then continues under a new key id)"
        ) from None
    except OSError as exc:
        raise SealKeyError(f"the sealing key {key_file} cannot be read: {exc}; no seals are made") from exc
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SealKeyError(f"the sealing key {key_file} is not a readable PEM private key: {exc}") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise SealKeyError(f"the sealing key {key_file} is not an Ed25519 key")
    return SigningKey(private, key_id(private.public_key()))


def rotate(key_file: Path) -> str:
    """A new key pair replaces the private key (the old one is deleted; its public key stays listed).
    Returns the new key id."""
    private = Ed25519PrivateKey.generate()
    _add_public(key_file, private)
    _write_private(key_file, private)
    return key_id(private.public_key())


def verify_signature(public_hex_key: str, payload: bytes, signature_hex: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex_key)).verify(bytes.fromhex(signature_hex), payload)
    except (InvalidSignature, ValueError):
        return False
    return True
