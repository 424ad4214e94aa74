"""Legal holds: an account whose data must be kept past retention (a claim, an investigation).

A hold suspends the retention job and erasure for the account, and the rows' TTLs too: every TTL
here is ``event_time + retention_days``, per row, so placing a hold raises ``retention_days`` of the
account's rows to ``HELD_DAYS`` (a mutation: the engine recomputes the parts' TTLs), and each
retention run raises it again for rows that arrived since. Lifting the hold gives the rows the
register's retention back (``retention apply``'s rule). Chosen over a TTL expression that consults
the holds (a TTL cannot run a subquery) and over copying held rows aside before they expire (a
second copy that every other right would have to reach).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ccaudit.register import ProcessingRegister
from ccaudit.rights.catalog import describe, matches
from ccaudit.rights.subjects import find_subject
from ccaudit.seal import changes as seal_changes
from ccaudit.store import Store
from ccaudit.store.client import command, insert_rows, jsonable, query_rows

# About 68 years: event_time + HELD_DAYS stays within DateTime's range (to 2106), so the TTL
# expression cannot overflow into the past.
HELD_DAYS = 25_000
_COLUMNS = ("platform", "account_id", "reason", "placed_by", "placed_at", "active", "version")


def _version(now: datetime) -> int:
    return int(now.timestamp() * 1_000_000)


def active_holds(store: Store) -> list[dict[str, Any]]:
    rows = query_rows(
        store.client,
        f"SELECT {', '.join(_COLUMNS[:-1])} FROM {store.database}.legal_holds FINAL WHERE active "
        "ORDER BY platform, account_id",
    )
    return [{k: jsonable(v) for k, v in zip(_COLUMNS, row, strict=False)} for row in rows]


def held_accounts(store: Store, account_ids: Iterable[str], platform: str | None) -> set[tuple[str, str]]:
    """(platform, account) of these accounts under an active hold (on ``platform``, or any)."""
    scope = " AND platform = {platform:String}" if platform else ""
    rows = query_rows(
        store.client,
        f"SELECT platform, account_id FROM {store.database}.legal_holds FINAL "
        "WHERE active AND account_id IN {ids:Array(String)}" + scope,
        {"ids": sorted(set(account_ids)), "platform": platform or ""},
    )
    return {(str(r[0]), str(r[1])) for r in rows}


def place(
    store: Store, register: ProcessingRegister, platform: str, account_id: str, reason: str, by: str, now: datetime
) -> int:
    """Hold ``account_id`` on ``platform``; the rows whose retention was raised."""
    row = [platform, account_id, reason, by, now, True, _version(now)]
    insert_rows(store.client, store.database, "legal_holds", [row], _COLUMNS)
    return keep_held_rows(store, register)


def lift(store: Store, platform: str, account_id: str, by: str, now: datetime) -> bool:
    """Lift the hold; False when there was none. The rows get the register's retention at the next
    ``retention apply`` or retention run."""
    if not held_accounts(store, [account_id], platform):
        return False
    row = [platform, account_id, "", by, now, False, _version(now)]
    insert_rows(store.client, store.database, "legal_holds", [row], _COLUMNS)
    return True


def held_identifiers(store: Store, register: ProcessingRegister) -> dict[str, list[str]]:
    """Per platform, every identifier of a held account there."""
    found: dict[str, list[str]] = {}
    for hold in active_holds(store):
        subject = find_subject(store, register, [str(hold["account_id"])], platform=str(hold["platform"]))
        found.setdefault(str(hold["platform"]), []).extend(subject.identifiers)
    return found


def keep_held_rows(store: Store, register: ProcessingRegister) -> int:
    """Raise retention_days of held accounts' rows to HELD_DAYS; the rows changed."""
    changed = 0
    held = held_identifiers(store, register)
    for table in describe(store.client, store.database):
        if "retention_days" not in table.columns or not table.has_platform:
            continue
        for platform, ids in held.items():
            where = (f"platform = {{platform:String}} AND retention_days != {HELD_DAYS} AND "
                     + matches(table, "{ids:Array(String)}", personal=register.personal_details()))  # fmt: skip
            params = {"platform": platform, "ids": ids}
            n = int(query_rows(store.client, f"SELECT count() FROM {store.database}.{table.name} WHERE {where}",
                               params)[0][0])  # fmt: skip
            if n:
                seal_changes.record(
                    store, table.name, where, params, "retention", cause="hold", retention_days=HELD_DAYS
                )
                command(store.client, f"ALTER TABLE {store.database}.{table.name} UPDATE retention_days = {HELD_DAYS} "
                        f"WHERE {where} SETTINGS mutations_sync = 2", params)  # fmt: skip
                changed += n
    return changed
