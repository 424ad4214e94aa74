"""Late arrivals of erased subjects: events still in a platform's spool or dead letters when the
subject was erased, delivered afterwards.

Ingest asks ``screen`` before storing a batch. An event of an erased stream whose subject columns
name an erased identifier (recognised by its keyed digest, ``keys.digest``) is pseudonymised the
way the stored rows were (same pseudonym; IP, user agent and the details' personal values emptied)
or dropped where the rows were deleted. Either way its ledger digest is ``erased``. The list is read
again every ``refresh`` seconds and at once after an erasure in this process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ccaudit.register import ProcessingRegister
from ccaudit.rights import keys
from ccaudit.store import Store
from ccaudit.store import tables as declared
from ccaudit.store.client import query_rows
from ccaudit.wire import AnyEventIn


class LateArrivals:
    def __init__(self, store: Store, register: ProcessingRegister, refresh: float = 5.0) -> None:
        self._seen: tuple[int, str] = (-1, "")
        self._store = store
        self._register = register
        self._refresh = refresh
        self._lock = threading.Lock()
        self._loaded = -1e18
        self._key = ""
        # (platform or '*', digest) → (streams, pseudonym)
        self._erased: dict[tuple[str, str], tuple[frozenset[str], str]] = {}

    def invalidate(self) -> None:
        self._loaded = -1e18

    def _current(self) -> dict[tuple[str, str], tuple[frozenset[str], str]]:
        now = time.monotonic()
        if now - self._loaded < self._refresh:
            return self._erased
        with self._lock:
            if now - self._loaded >= self._refresh:
                db = self._store.database
                rows = query_rows(
                    self._store.client, f"SELECT platform, digest, streams, pseudonym FROM {db}.erased_subjects FINAL"
                )
                self._erased = {(str(r[0]), str(r[1])): (frozenset(r[2]), str(r[3])) for r in rows}
                if self._erased and not self._key:
                    self._key = keys.late_key(self._store, datetime.now(UTC))
                self._loaded = now
        return self._erased

    def screen(self, platform: str, events: Sequence[AnyEventIn]) -> tuple[list[AnyEventIn], set[int], set[int]]:
        """(events, indexes pseudonymised, indexes to drop); the events as given when none is erased."""
        erased = self._current()
        if not erased:
            return list(events), set(), set()
        out: list[AnyEventIn] = []
        changed: set[int] = set()
        dropped: set[int] = set()
        personal = {k.lower() for k in self._register.subject_ids(platform).personal_details}
        for index, event in enumerate(events):
            update = self._update(platform, event, erased, personal)
            if update is None:
                out.append(event)
            elif isinstance(update, str):
                dropped.add(index)
                out.append(event)
            else:
                changed.add(index)
                out.append(event.model_copy(update=update))
        return out, changed, dropped

    def _update(
        self,
        platform: str,
        event: AnyEventIn,
        erased: dict[tuple[str, str], tuple[frozenset[str], str]],
        personal: set[str],
    ) -> dict[str, Any] | str | None:
        fields = event.__dict__
        update: dict[str, Any] = {}
        named: set[str] = set()
        for table in declared.PERSONAL_DATA_TABLES:
            if table.stream != event.stream:
                continue
            for column in table.subject_columns:
                value = fields.get(column)
                if not isinstance(value, str) or not value:
                    continue
                digest = keys.digest(self._key, value)
                hit = erased.get((platform, digest)) or erased.get(("*", digest))
                if hit is None or event.stream not in hit[0]:
                    continue
                if not hit[1]:
                    return "drop"
                update[column] = hit[1]
                named.add(value)
            if update:
                for column in table.identifying_columns:
                    value = fields.get(column)
                    if isinstance(value, dict):
                        update[column] = {
                            k: v for k, v in value.items() if k.lower() not in personal and v not in named
                        }
                    elif isinstance(value, str) and column in fields:
                        update[column] = ""
        return update or None
