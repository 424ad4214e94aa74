"""The retention job: accounts unused longer than the register says are erased as it says.

Last use per account and platform is the engine's (``account_last_use``, migration 0017): the max
of the event times of the account's audit events as actor, kept by a materialized view, so a late
event moves it the moment it is stored. Per platform and stream, an account whose last use is older
than the stream's ``inactive_days`` has that stream's rows erased (``erase.py``: deleted or
pseudonymised per the register); a closed or deactivated account (``account_closures``), once the
stream's ``closure_grace_days`` have passed, unless it was used again after (``closures.py`` runs
this for an account the moment its closure is stored, so a stream without grace goes at once). Held accounts are
skipped, and their rows' retention kept raised (``holds.py``). When every stream of an account is
done, its last-use and closure rows go too. The run is an audit event.

``apply`` brings the rows' per-row retention (which the TTLs read) in line with the register.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ccaudit.rights import trail
from ccaudit.rights.catalog import describe, matches
from ccaudit.rights.erase import erase_identifiers
from ccaudit.rights.holds import HELD_DAYS, held_identifiers, keep_held_rows
from ccaudit.rights.keys import PREFIX
from ccaudit.rights.subjects import profiles_of
from ccaudit.seal import changes as seal_changes
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.client import command, query_rows

CHUNK = 500_000  # accounts per erasure: each is a mutation of every table it touches, whatever its size
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Due:
    """One account of one platform whose rows of ``streams`` are due for erasure."""

    platform: str
    account_id: str
    last_use: datetime
    reason: str  # 'inactive' or 'closed'
    streams: tuple[str, ...]
    complete: bool  # every stream of the account's platform is due


@dataclass
class Report:
    due: list[Due] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)
    held_rows: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts": len(self.due),
            "rows": sum(self.tables.values()),
            "tables": self.tables,
            "held_rows_kept": self.held_rows,
            "due": [
                {"platform": d.platform, "account_id": d.account_id, "last_use": d.last_use.isoformat(),
                 "reason": d.reason, "streams": list(d.streams)}
                for d in self.due
            ],
        }  # fmt: skip


def _streams(settings: Settings, platform: str) -> dict[str, tuple[int, int]]:
    """Declared streams of ``platform`` → (inactive_days, closure_grace_days)."""
    return {
        s: (d.inactive_days, d.closure_grace_days) for s, d in settings.processing_register.streams(platform).items()
    }


def plan(
    store: Store, settings: Settings, now: datetime, *, only: Iterable[tuple[str, str]] | None = None
) -> list[Due]:
    """The accounts due now, held ones left out; ``only``: of these (platform, account) pairs.

    An account a platform closed that never acted (a member who only ever was the subject of
    others' operations) has no last use: its closure alone makes it due."""
    db = store.database
    scope = ""
    params: dict[str, Any] = {"prefix": PREFIX, "oldest": now - timedelta(days=_min_inactive(settings))}
    if only is not None:
        scope = "AND (u.platform, u.account_id) IN {only:Array(Tuple(String, String))} "
        params["only"] = sorted(set(only))
    rows = query_rows(
        store.client,
        f"SELECT u.platform, u.account_id, u.last, c.closed FROM "
        f"(SELECT platform, account_id, max(last) AS last FROM ("
        f" SELECT platform, account_id, max(last_use) AS last FROM {db}.account_last_use GROUP BY platform, account_id"
        f" UNION ALL SELECT platform, account_id, toDateTime64(0, 3, 'UTC') FROM {db}.account_closures"
        f" GROUP BY platform, account_id) GROUP BY platform, account_id) AS u "
        f"LEFT JOIN (SELECT platform, account_id, max(closed_at) AS closed FROM {db}.account_closures "
        f" GROUP BY platform, account_id) AS c ON u.platform = c.platform AND u.account_id = c.account_id "
        f"WHERE NOT startsWith(u.account_id, {{prefix:String}}) AND u.platform != 'ccaudit' "
        f"AND u.account_id NOT IN (SELECT account_id FROM {db}.legal_holds FINAL WHERE active) {scope}"
        f"AND (u.last < {{oldest:DateTime64(3, 'UTC')}} OR c.closed > toDateTime64(0, 3, 'UTC'))",
        params,
    )
    due: list[Due] = []
    for platform, account, last, closed in rows:
        declared = _streams(settings, str(platform))
        streams = []
        reason = "inactive"
        used = last.year > 1970
        for stream, (inactive, grace) in declared.items():
            if used and last.replace(tzinfo=now.tzinfo) < now - timedelta(days=inactive):
                streams.append(stream)
            elif (
                closed is not None
                and closed.year > 1970
                and last <= closed
                and closed.replace(tzinfo=now.tzinfo) <= now - timedelta(days=grace)
            ):
                streams.append(stream)
                reason = "closed"
        if streams:
            due.append(Due(str(platform), str(account), last.replace(tzinfo=now.tzinfo), reason, tuple(streams),
                           len(streams) == len(declared)))  # fmt: skip
    return due


def _min_inactive(settings: Settings) -> int:
    register = settings.processing_register
    declared = [
        d.inactive_days for streams in [register.default, *register.platforms.values()] for d in streams.values()
    ]
    return min(declared, default=730)


def run(
    store: Store,
    settings: Settings,
    now: datetime,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    only: Iterable[tuple[str, str]] | None = None,
) -> Report:
    """Erase what is due (nothing when ``dry_run``); the report lists it either way. ``only``: of
    these (platform, account) pairs (``closures.py``: accounts just closed), recorded as such."""
    report = Report(plan(store, settings, now, only=only))
    if dry_run:
        return report
    register = settings.processing_register
    if only is None:  # the scheduled run's chore; a closure's run leaves held accounts alone anyway
        report.held_rows = keep_held_rows(store, register)
    tables = describe(store.client, store.database)
    groups: dict[tuple[str, tuple[str, ...], str], list[Due]] = {}
    for item in report.due:
        streams = item.streams + (("retention",) if item.complete else ())
        groups.setdefault((item.platform, streams, item.reason), []).append(item)
    total, done = len(report.due), 0
    for (platform, streams, reason), items in groups.items():
        chosen = [t for t in tables if t.info.stream in streams]
        forms = register.subject_ids(platform)
        for start in range(0, len(items), CHUNK):
            chunk = items[start : start + CHUNK]
            accounts = [d.account_id for d in chunk]
            identifiers = set(accounts)
            for account in accounts:
                identifiers.update(forms.subject_ids_of(account))
            identifiers.update(profiles_of(store, accounts, platform))
            # A closed account's events may still wait in a spool: they are remembered as erased. An
            # account unused for years has none waiting (spools keep at most a year), and may come
            # back: its new events are new processing, not late arrivals.
            erased = erase_identifiers(store, register, identifiers, chosen, platform, now, remember=reason == "closed")
            for name, (_, rows) in erased.tables.items():
                report.tables[name] = report.tables.get(name, 0) + rows
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    if report.due:
        subject = "retention:run" if only is None else "retention:closure"
        trail.record(store, settings, "retention.erase", actor="retention", role="system", subject=subject,
                     now=now, details={"accounts": len(report.due), "rows": sum(report.tables.values()),
                                       **{f"rows.{k}": v for k, v in report.tables.items()}})  # fmt: skip
    return report


@dataclass(frozen=True, slots=True)
class Change:
    table: str
    platform: str
    before: int
    after: int
    rows: int


def apply(store: Store, settings: Settings, *, dry_run: bool = False) -> list[Change]:
    """Set each row's retention_days to what the register declares for its platform and stream,
    except rows of held accounts; the changes (per table, platform and former value)."""
    register = settings.processing_register
    held = held_identifiers(store, register)
    changes: list[Change] = []
    for table in describe(store.client, store.database):
        if "retention_days" not in table.columns or not table.has_platform:
            continue
        found = query_rows(
            store.client,
            f"SELECT platform, retention_days, count() FROM {store.database}.{table.name} "
            f"WHERE retention_days != {HELD_DAYS} GROUP BY platform, retention_days ORDER BY platform, retention_days",
        )
        for platform, days, rows in found:
            declaration = register.declaration(str(platform), table.info.stream)
            if declaration is None or declaration.retention_days == int(days):
                continue
            where = "platform = {platform:String} AND retention_days = {days:UInt16}"
            params: dict[str, Any] = {"platform": str(platform), "days": int(days), "ids": held.get(str(platform), [])}
            if params["ids"]:
                where += " AND NOT " + matches(table, "{ids:Array(String)}", personal=register.personal_details())
            changes.append(Change(table.name, str(platform), int(days), declaration.retention_days, int(rows)))
            if not dry_run:
                seal_changes.record(store, table.name, where, params, "retention", cause="retention.apply",
                                    retention_days=declaration.retention_days)  # fmt: skip
                command(store.client, f"ALTER TABLE {store.database}.{table.name} UPDATE retention_days = "
                        f"{declaration.retention_days} WHERE {where} SETTINGS mutations_sync = 2", params)  # fmt: skip
    return changes
