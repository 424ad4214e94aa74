"""Restriction (art. 18) and objection (art. 21): the data is kept but no longer used.

A restriction (purpose '') leaves the subject's rows out of every read path (audit search, event
detail and export, consent histories, statistics); an accepted objection to a purpose leaves them
out of that purpose's processing (P5: learning statistics). The audit trail keeps recording: it is
what proves how the data was handled. An objection to the audit stream's purposes is recorded and
answered, and may be refused with the compelling grounds stated (``actions.object_``).

``clause`` (``ccaudit.store.restricted``) is the predicate the read paths add, generic over a table's
subject columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ccaudit.rights.subjects import Subject
from ccaudit.store import Store
from ccaudit.store.client import insert_rows, query_rows
from ccaudit.store.restricted import clause

_COLUMNS = ("platform", "identifier", "purpose", "request_id", "active", "changed_at", "version")


def set_restriction(
    store: Store, subject: Subject, *, purpose: str = "", request_id: str, active: bool, now: datetime
) -> int:
    """Restrict (or lift, ``active`` False) the subject's identifiers; how many."""
    version = int(now.timestamp() * 1_000_000)
    rows = [[subject.platform or "*", i, purpose, request_id, active, now, version] for i in subject.identifiers]
    insert_rows(store.client, store.database, "subject_restrictions", rows, _COLUMNS)
    return len(rows)


def restricted(store: Store, purposes: Iterable[str] = ("",)) -> list[str]:
    rows = query_rows(
        store.client,
        f"SELECT DISTINCT identifier FROM {store.database}.subject_restrictions FINAL "
        "WHERE active AND purpose IN {p:Array(String)}",
        {"p": sorted(set(purposes) | {""})},
    )
    return [str(r[0]) for r in rows]


__all__ = ["clause", "restricted", "set_restriction"]
