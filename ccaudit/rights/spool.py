"""Subject rights on a platform host: the spool's tables and journals hold events not yet stored.

``find`` lists the events of a spool (``bodies``, ``dead_letters`` and the journals in
``<spool>.journal/``: ``ccaudit.store.tables.LOCAL_PERSONAL_DATA``) that name a subject; ``erase``
rewrites them: every string naming the subject becomes ``erased``, IP and user agent are emptied and
the details lose their values naming the subject. Journals are folded first (their lines move into
the spool's batches and the folded files are deleted); a journal a live process still writes to is
reported, not touched. Run it where the platform runs: ``ccaudit subject erase-spool``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ccaudit.shipping import journal
from ccaudit.shipping.spool import Spool
from ccaudit.store.tables import LOCAL_PERSONAL_DATA

_CLEARED = ("client_ip", "peer_ip", "user_agent")


def _names(value: Any, ids: frozenset[str]) -> bool:
    if isinstance(value, str):
        return value in ids
    if isinstance(value, dict):
        return any(_names(v, ids) for v in value.values())
    if isinstance(value, list):
        return any(_names(v, ids) for v in value)
    return False


def _scrub(event: dict[str, Any], ids: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in event.items():
        if key in _CLEARED:
            out[key] = ""
        elif isinstance(value, str) and value in ids:
            out[key] = "erased" if key != "account_id" else ""
        elif isinstance(value, dict):
            out[key] = {k: v for k, v in value.items() if not _names(v, ids)}
        else:
            out[key] = value
    return out


def find(path: Path, identifiers: Iterable[str]) -> list[dict[str, Any]]:
    """The spool's events naming any of ``identifiers``, each with where it waits."""
    ids = frozenset(identifiers)
    found: list[dict[str, Any]] = []
    spool = Spool(path)
    try:
        for table in LOCAL_PERSONAL_DATA:
            for (body,) in spool._read(f"SELECT body FROM {table.name}"):
                parsed = json.loads(body)
                for event in parsed if isinstance(parsed, list) else [parsed]:
                    if _names(event, ids):
                        found.append({"where": table.name, "event": event})
        for file in journal.files(spool.journals):
            for line in journal.read(file, 0)[0]:
                found.extend(
                    {"where": f"journal {file.name}", "event": e} for e in json.loads(line.body) if _names(e, ids)
                )
    finally:
        spool.close()
    return found


def erase(path: Path, identifiers: Iterable[str]) -> dict[str, int]:
    """Rewrite the spool's events naming ``identifiers``; counts per place, and journals left alone."""
    ids = frozenset(identifiers)
    counts = {"bodies": 0, "dead_letters": 0, "journals_in_use": 0}
    spool = Spool(path)
    try:
        spool.fold()
        with spool._tx() as db:
            # Freed pages are overwritten with zeros: the old bodies leave no copy in the file.
            db.execute("PRAGMA secure_delete = ON")
            for seq, body in db.execute("SELECT seq, body FROM bodies").fetchall():
                events = json.loads(body)
                if any(_names(e, ids) for e in events):
                    counts["bodies"] += sum(1 for e in events if _names(e, ids))
                    clean = [_scrub(e, ids) if _names(e, ids) else e for e in events]
                    db.execute(
                        "UPDATE bodies SET body = ? WHERE seq = ?", (json.dumps(clean, separators=(",", ":")), seq)
                    )
            for seq, body in db.execute("SELECT seq, body FROM dead_letters").fetchall():
                event = json.loads(body)
                if _names(event, ids):
                    counts["dead_letters"] += 1
                    db.execute("UPDATE dead_letters SET body = ? WHERE seq = ?",
                               (json.dumps(_scrub(event, ids), separators=(",", ":")), seq))  # fmt: skip
        spool.checkpoint()
    finally:
        spool.close()
    for file in journal.files(path.with_name(path.name + ".journal")):
        if any(_names(e, ids) for line in journal.read(file, 0)[0] for e in json.loads(line.body)):
            counts["journals_in_use"] += 1
    return counts
