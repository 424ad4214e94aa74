"""The seal heads a platform keeps: the chain's head leaves the operator's hands.

Every ingest answer carries the latest seal of each of the platform's chains (``seals``: stream,
seq, hash, end of its period; see ccaudit.seal). The shipper keeps, per stream, the highest seal it
was told of, in a small JSON file of the platform's own (``CCAUDIT_SEAL_HEADS_PATH``, by default
beside the spool). ``ccaudit verify --trusted-heads <file>`` (or ``--trusted-head``, from
``ccaudit seal heads``) then checks that the service's chain still holds each of them: a chain cut
short (its last seals removed, a rollback to a backup) or rewritten by a key holder shows as
``trusted_head_mismatch``.

The shipper also notices such a thing at once: an answer naming a lower seq than one kept (the
chain went back), or the same seq under another hash (the chain was rewritten), is kept in the
file's ``conflicts`` and logged, and the head kept stays the one first seen. Only the shipper's
thread writes the file, never the request path; a write is whole (a temporary file renamed).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ccaudit.shipping.locks import FileLock

log = logging.getLogger("ccaudit.shipping")
# Conflicts kept in the file: the newest, enough to show a pattern without growing for ever.
MAX_CONFLICTS = 100


class SealHeads:
    """The platform's copy of its chains' heads, in ``path``."""

    def __init__(self, path: Path, platform: str) -> None:
        self.path = path
        self.platform = platform
        self._lock = threading.Lock()
        try:
            loaded = read(path)
        except (OSError, ValueError) as exc:
            # The platform starts whatever the file holds; the next head moved rewrites it whole.
            log.warning("ccaudit: cannot read the seal heads in %s (%s); starting from none", path, exc)
            loaded = {}
        self._heads: dict[str, dict[str, Any]] = dict(loaded.get("heads", {}))
        self._conflicts: list[dict[str, Any]] = list(loaded.get("conflicts", []))
        self._file_lock: FileLock | None = None

    def observe(self, answered: Iterable[Any]) -> None:
        """Take the ``seals`` of one ingest answer; write the file when a head moved or conflicted."""
        with self._lock:
            changed = [self._take(head) for head in answered if isinstance(head, dict)]
            if any(changed):
                self._write()

    def _take(self, head: dict[str, Any]) -> bool:
        try:
            stream, seq, digest = str(head["stream"]), int(head["seq"]), str(head["hash"])
            end = int(head.get("period_end_ms", 0))
        except (KeyError, TypeError, ValueError):
            return False
        chain = f"{self.platform}/{stream}"
        now = int(time.time() * 1000)
        kept = self._heads.get(chain)
        if kept is None or seq > int(kept["seq"]):
            self._heads[chain] = {"seq": seq, "hash": digest, "period_end_ms": end, "seen_at_ms": now}
            return True
        kept_seq = int(kept["seq"])
        if seq == kept_seq and digest == kept["hash"]:
            return False
        if any(c["chain"] == chain and c["seq"] == seq and c["hash"] == digest for c in self._conflicts):
            return False
        what = "rewritten" if seq == kept_seq else "went back"
        log.warning("ccaudit: the seal chain %s %s: the service answered #%d, %s keeps #%d",
                    chain, what, seq, self.path, kept_seq)  # fmt: skip
        conflict = {"chain": chain, "what": what, "seq": seq, "hash": digest, "kept_seq": kept_seq, "at_ms": now}
        self._conflicts = [*self._conflicts, conflict][-MAX_CONFLICTS:]
        return True

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"heads": dict(self._heads), "conflicts": list(self._conflicts)}

    def _write(self) -> None:
        """Merge with the file (the platform's other processes keep it too: the higher seq of a chain
        wins) and write it whole, one process at a time."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._file_lock is None:
            self._file_lock = FileLock(self.path.with_name(self.path.name + ".lock"))
        with self._file_lock:
            try:
                on_disk = read(self.path)
            except ValueError:
                on_disk = {}  # unreadable: written anew from what this process kept
            for chain, head in dict(on_disk.get("heads", {})).items():
                if chain not in self._heads or int(head["seq"]) > int(self._heads[chain]["seq"]):
                    self._heads[chain] = head
            known = {json.dumps(c, sort_keys=True) for c in self._conflicts}
            others = [c for c in on_disk.get("conflicts", []) if json.dumps(c, sort_keys=True) not in known]
            self._conflicts = sorted([*others, *self._conflicts], key=lambda c: int(c.get("at_ms", 0)))[-MAX_CONFLICTS:]
            tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
            with tmp.open("w") as handle:
                json.dump({"heads": self._heads, "conflicts": self._conflicts}, handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)


def read(path: Path) -> dict[str, Any]:
    """The file's content (``heads``: chain → seq, hash, …; ``conflicts``), empty when there is none."""
    try:
        body = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    if not isinstance(body, dict):
        raise ValueError(f"{path} is not a seal heads file")
    return body


def trusted_heads(path: Path) -> list[str]:
    """The kept heads as ``<platform>/<stream>:<seq>:<hash>`` (what ``verify --trusted-head`` takes)."""
    heads = read(path).get("heads", {})
    return [f"{chain}:{int(h['seq'])}:{h['hash']}" for chain, h in sorted(heads.items())]
