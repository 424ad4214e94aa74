"""The Merkle tree of a period's leaves (RFC 6962's shape: leaves hashed with a 0x00 prefix, inner
nodes with 0x01, a lone node at the end of a level carried up unchanged; the empty tree's root is
SHA-256 of nothing).

Leaves come in canonical order (by row id): the same rows always give the same root, however the
engine returned them.

The sealer and the verifier have the engine compute a stored period's root (:func:`root_sql`): in
Python it cost about half a microsecond a leaf, under the interpreter lock the service's ingest
needs, after reading every leaf out of the engine. Python's :func:`root_of` stays the reference, and
what checks seal files and exports without a store.
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


# One level of the tree over ``acc`` (an array of raw hashes): pairs hashed, a lone last node carried up.
_LEVEL = (
    "arrayMap(i -> if(2 * i <= length(acc), SHA256(concat(char(1), acc[2 * i - 1], acc[2 * i])), acc[2 * i - 1]), "
    "range(1, intDiv(length(acc) + 1, 2) + 1))"
)


def root_sql(hashes: str) -> str:
    """SQL of the root (hex) over ``hashes``, an ``Array(String)`` expression of the raw 32-byte leaves
    in canonical order: the tree of :func:`root_of`, a level per step of the fold (64 steps, enough for
    any number of leaves; the steps after the root keep it). No leaves: the empty tree's root."""
    fold = f"arrayFold((acc, x) -> if(length(acc) <= 1, acc, {_LEVEL}), range(64), {hashes})"
    return f"lower(hex(arrayConcat({fold}, [SHA256('')])[1]))"
