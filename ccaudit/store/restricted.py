"""The rule of restriction (GDPR art. 18) and objection (21) as SQL: every read path adds it.

A restricted subject's rows are kept but never read; an accepted objection to a purpose leaves them
out of that purpose's reads. ``ccaudit.rights.restrict`` records restrictions in
``subject_restrictions`` (migration 0018); this is the predicate over a table's subject columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from clickhouse_connect.driver.client import Client

from ccaudit.store.client import query_rows


def clause(database: str, columns: Iterable[str], purposes: Iterable[str] = ()) -> str:
    """SQL true for rows none of whose ``columns`` names a restricted identifier (or one objecting
    to one of ``purposes``)."""
    wanted = ", ".join(f"'{p}'" for p in sorted(set(purposes) | {""}) if p.isalnum() or p == "")
    # A set the engine builds once per query (the same subquery is one set), looked up per row: an
    # array of every restricted identifier, searched per row, cost a fifth of a statistics query.
    listed = f"(SELECT identifier FROM {database}.subject_restrictions FINAL WHERE active AND purpose IN ({wanted}))"
    return "NOT (" + " OR ".join(f"toString({c}) IN {listed}" for c in columns) + ")"


# Learning (stream "learning", purpose P5: follow-up module access and learning statistics): a
# restricted learner, or one whose objection to P5 was accepted, is left out of that processing.
LEARNING_PURPOSES = ("P5",)


# The purposes an identifier (bound as ``i``) may not be used for, among those bound as ``p`` (with ''
# for a restriction of every purpose): an array, so that it can also be a column of another query.
RESTRICTED_SELECT = (
    "SELECT groupArray(purpose) FROM {db}.subject_restrictions FINAL "
    "WHERE active AND identifier = {{i:String}} AND purpose IN {{p:Array(String)}}"
)


def restriction_params(identifier: str, purposes: Iterable[str]) -> dict[str, Any]:
    return {"i": identifier, "p": sorted(set(purposes) | {""})}


def why_restricted(found: Iterable[str]) -> str | None:
    """'restricted' (art. 18), 'objected' (an accepted objection, art. 21) or None, from the purposes
    ``RESTRICTED_SELECT`` found."""
    found = set(found)
    if "" in found:
        return "restricted"
    return "objected" if found else None


def restriction_of(client: Client, database: str, identifier: str, purposes: Iterable[str] = ()) -> str | None:
    """Why ``identifier``'s data may not be used for ``purposes``: 'restricted' (art. 18), 'objected'
    (an accepted objection, art. 21), or None when it may."""
    rows = query_rows(client, RESTRICTED_SELECT.format(db=database), restriction_params(identifier, purposes))
    return why_restricted(str(p) for p in rows[0][0]) if rows else None
