"""A seal: the signed statement "these are the leaves this platform's stream stored in this period,
after that seal". Its payload is canonical JSON (sorted keys, no spaces), signed as bytes; its hash
(SHA-256 of the payload, hex) is what the next seal names as ``prev``.

The seal folder (``CCAUDIT_SEAL_DIR``, default ``<data_dir>/seals``) holds one file per seal,
``<platform>/<stream>/<seq, 12 digits>.json``: the payload, its signature and the period's leaves
(row id, expiry, digest, commitment, leaf). With the public keys (``public-keys.json``, copied there
too) the folder is what an outside verifier needs beside the rows.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Leaf:
    row_id: str
    expires_ms: int
    digest: str
    commitment: str
    leaf: str


@dataclass(frozen=True, slots=True)
class Seal:
    platform: str
    stream: str
    seq: int
    period_start_ms: int
    period_end_ms: int
    leaf_count: int
    root: str
    prev: str
    key_id: str
    sealed_at_ms: int

    def payload(self) -> bytes:
        body = {
            "v": 1,
            "platform": self.platform,
            "stream": self.stream,
            "seq": self.seq,
            "period_start_ms": self.period_start_ms,
            "period_end_ms": self.period_end_ms,
            "leaf_count": self.leaf_count,
            "root": self.root,
            "prev": self.prev,
            "key_id": self.key_id,
            "sealed_at_ms": self.sealed_at_ms,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def hash(self) -> str:
        return hashlib.sha256(self.payload()).hexdigest()

    @classmethod
    def from_payload(cls, payload: bytes | str) -> Seal:
        body = json.loads(payload)
        if body.get("v") != 1:
            raise ValueError(f"unknown seal version {body.get('v')!r}")
        return cls(
            platform=str(body["platform"]),
            stream=str(body["stream"]),
            seq=int(body["seq"]),
            period_start_ms=int(body["period_start_ms"]),
            period_end_ms=int(body["period_end_ms"]),
            leaf_count=int(body["leaf_count"]),
            root=str(body["root"]),
            prev=str(body["prev"]),
            key_id=str(body["key_id"]),
            sealed_at_ms=int(body["sealed_at_ms"]),
        )

    def head(self) -> dict[str, Any]:
        """What a platform keeps of the latest seal (see ``--trusted-head``)."""
        return {"stream": self.stream, "seq": self.seq, "hash": self.hash(), "period_end_ms": self.period_end_ms}


def seal_path(folder: Path, platform: str, stream: str, seq: int) -> Path:
    return folder / platform / stream / f"{seq:012d}.json"


def write_file(folder: Path, seal: Seal, signature: str, listing: bytes) -> Path:
    """Write a seal's file whole (a temporary file renamed, synced), so a crash leaves the old one or the new.
    ``listing`` is the period's leaves, each a JSON array ``[row_id, expires_ms, digest, commitment, leaf]``,
    separated by commas, as the engine renders them (:meth:`ccaudit.seal.store.SealStore.period_leaves`):
    written as it is, never decoded, copied or joined on the service's one interpreter lock, beside ingest."""
    path = seal_path(folder, seal.platform, seal.stream, seal.seq)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = orjson.dumps({"payload": seal.payload().decode(), "signature": signature, "hash": seal.hash()})
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as handle:
        handle.write(head[:-1] + b',"leaves":[')
        handle.write(listing)
        handle.write(b"]}")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


@dataclass(frozen=True, slots=True)
class SealFile:
    path: Path
    payload: str
    signature: str
    leaves: tuple[Leaf, ...]


def read_file(path: Path) -> SealFile:
    body = orjson.loads(path.read_bytes())
    leaves = tuple(Leaf(str(a), int(b), str(c), str(d), str(e)) for a, b, c, d, e in body["leaves"])
    return SealFile(path, str(body["payload"]), str(body["signature"]), leaves)


def folder_seals(folder: Path, platform: str, stream: str) -> Iterator[SealFile]:
    """The seal files of one chain, by file name (seq)."""
    chain = folder / platform / stream
    if not chain.is_dir():
        return
    for path in sorted(chain.glob("*.json")):
        yield read_file(path)


def chains(folder: Path) -> list[tuple[str, str]]:
    """(platform, stream) of every chain in the folder."""
    if not folder.is_dir():
        return []
    return sorted((p.name, s.name) for p in folder.iterdir() if p.is_dir() for s in p.iterdir() if s.is_dir())
