"""The append-only rule: an event id, once stored, keeps its first payload, and is stored once.

Ingest gives every event a digest of what the platform sent: SHA-256 over the platform's name and
the validated wire event in a canonical form (JSON with keys sorted at every level, defaults
included, the event time as epoch milliseconds, so that ``Z`` and ``+01:00`` spellings of one instant
and any order of ``details`` keys agree). The enriched row is never what is compared: enrichment
may change between versions.

Before rows are inserted, ``Ledger.sort`` looks the ids up in ``event_ids`` (fed by materialized views
from the data tables, in the same insert as the rows) and among the rows of the same group commit:

- new: stored;
- stored before with the same digest (a redelivery, however re-batched), or erased since: not
  stored again, and acknowledged;
- stored before with another digest, or by another platform: the whole batch is refused and a
  security event is written.

With one writer per store (the embedded default: one process owns the data folder; with a server,
one service process) this makes one event id one row at insert time, which is what materialized
views need: the replacing engines collapse duplicates only when parts merge. Several service
replicas writing one store at the same instant could both find an id new; closing that gap needs
a claim shared through ClickHouse Keeper, which comes with scale-out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from ccaudit.store.client import insert_rows, query_rows
from ccaudit.wire import AnyEventIn

# The digest a ledger row carries once subject-rights work erased or pseudonymised the row it stands
# for: a redelivery then matches whatever it holds. '' marks ids stored before digests existed.
ERASED = "erased"
_MATCHES_ANY = frozenset({ERASED, ""})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z


def payload_digest(platform: str, event: AnyEventIn) -> str:
    """SHA-256 (hex) of what ``platform`` sent as ``event``, in canonical form: its fields (defaults
    included) as JSON with sorted keys at every level, the event time as epoch milliseconds."""
    fields = {**event.__dict__, "event_time": (event.event_time - _EPOCH) // _ONE_MS}
    return hashlib.sha256(platform.encode() + b"\n" + orjson.dumps(fields, option=_CANONICAL)).hexdigest()


@dataclass(frozen=True, slots=True)
class Key:
    """One event of a batch, as the ledger sees it: where it sits in its batch, and its identity."""

    index: int
    event_id: str
    stream: str
    digest: str


@dataclass(frozen=True, slots=True)
class Conflict:
    """An event that would rewrite the trail: its batch index and what is stored under its id."""

    key: Key
    stored_platform: str
    stored_digest: str


@dataclass(frozen=True, slots=True)
class Sorted:
    """Per batch: the indexes to store (new events), and the conflicts (the batch is then refused)."""

    new: frozenset[int]
    conflicts: tuple[Conflict, ...]


class Ledger:
    """Looks event ids up in ``<db>.event_ids`` and records refused rewrites in ``security_events``."""

    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._db = database

    def stored(self, event_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """event id → (platform, digest) of the first stored row, for the ids that are stored."""
        ids = sorted(set(event_ids))
        if not ids:
            return {}
        rows = query_rows(
            self._client,
            f"SELECT toString(event_id), argMin(platform, received_at), argMin(payload_sha256, received_at) "
            f"FROM {self._db}.event_ids WHERE event_id IN {{ids:Array(UUID)}} GROUP BY event_id",
            {"ids": ids},
        )
        return {str(r[0]): (str(r[1]), str(r[2])) for r in rows}

    def sort(self, batches: Sequence[tuple[str, Sequence[Key]]]) -> list[Sorted]:
        """Sort the events of ``batches`` (platform, keys), in order: the first of equal new ids wins.

        A refused batch claims nothing: an event of a later batch with its ids is judged as if
        the refused batch had never come.
        """
        known = self.stored(key.event_id for _, keys in batches for key in keys)
        claimed: dict[str, tuple[str, str]] = {}
        result: list[Sorted] = []
        for platform, keys in batches:
            mine: dict[str, tuple[str, str]] = {}
            new: set[int] = set()
            conflicts: list[Conflict] = []
            for key in keys:
                prior = known.get(key.event_id) or claimed.get(key.event_id) or mine.get(key.event_id)
                if prior is None:
                    mine[key.event_id] = (platform, key.digest)
                    new.add(key.index)
                elif prior[0] != platform or (prior[1] != key.digest and prior[1] not in _MATCHES_ANY):
                    conflicts.append(Conflict(key, *prior))
            if conflicts:
                result.append(Sorted(frozenset(), tuple(conflicts)))
            else:
                claimed.update(mine)
                result.append(Sorted(frozenset(new), ()))
        return result

    def record_conflicts(self, platform: str, conflicts: Sequence[Conflict]) -> None:
        """Write refused rewrites to ``security_events``."""
        now = datetime.now(UTC)
        rows: list[list[Any]] = [
            [now, _kind(platform, c), platform, c.key.event_id, c.key.stream, c.stored_platform, c.stored_digest,
             c.key.digest]
            for c in conflicts
        ]  # fmt: skip
        insert_rows(self._client, self._db, "security_events", rows, _SECURITY_COLUMNS)

    def security_events(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest refused rewrites, newest first."""
        rows = query_rows(
            self._client,
            f"SELECT {', '.join(_SECURITY_COLUMNS)} FROM {self._db}.security_events "
            "ORDER BY event_time DESC LIMIT {limit:UInt32}",
            {"limit": limit},
        )
        return [dict(zip(_SECURITY_COLUMNS, row, strict=True)) for row in rows]


_SECURITY_COLUMNS = (
    "event_time", "kind", "platform", "event_id", "stream", "stored_platform", "stored_sha256", "sent_sha256",
)  # fmt: skip


def _kind(platform: str, conflict: Conflict) -> str:
    return "rewrite_other_platform" if conflict.stored_platform != platform else "rewrite"


def keys_of(platform: str, indexed: Mapping[int, AnyEventIn]) -> list[Key]:
    """The ledger keys of a batch's events (batch index → event)."""
    return [Key(i, str(e.event_id), e.stream, payload_digest(platform, e)) for i, e in indexed.items()]
