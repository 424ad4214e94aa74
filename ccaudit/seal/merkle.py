"""The Merkle tree of a period's leaves (RFC 6962's shape: leaves hashed with a 0x00 prefix, inner
nodes with 0x01, a lone node at the end of a level carried up unchanged; the empty tree's root is
SHA-256 of nothing).

Leaves come in canonical order (by row id): the same rows always give the same root, however the
engine returned them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def root(leaves: Sequence[str]) -> str:
    """The root (hex) over ``leaves`` (hex leaf hashes, already 0x00-prefixed by their definition)."""
    return root_of(b"".join(bytes.fromhex(x) for x in leaves))


def root_of(hashes: bytes) -> str:
    """The root (hex) over leaves given as their raw 32-byte hashes, one after another."""
    if not hashes:
        return EMPTY_ROOT
    level = [hashes[i : i + 32] for i in range(0, len(hashes), 32)]
    sha = hashlib.sha256
    while len(level) > 1:
        paired = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0].hex()
