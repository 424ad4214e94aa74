"""The rule of restriction (GDPR art. 18) and objection (21) as SQL: every read path adds it.

A restricted subject's rows are kept but never read; an accepted objection to a purpose leaves them
out of that purpose's reads. ``ccaudit.rights.restrict`` records restrictions in
``subject_restrictions`` (migration 0018); this is the predicate over a table's subject columns.
"""

from __future__ import annotations

from collections.abc import Iterable


def clause(database: str, columns: Iterable[str], purposes: Iterable[str] = ()) -> str:
    """SQL true for rows none of whose ``columns`` names a restricted identifier (or one objecting
    to one of ``purposes``)."""
    wanted = ", ".join(f"'{p}'" for p in sorted(set(purposes) | {""}) if p.isalnum() or p == "")
    listed = (f"(SELECT groupArray(identifier) FROM {database}.subject_restrictions FINAL "
              f"WHERE active AND purpose IN ({wanted}))")  # fmt: skip
    return "NOT hasAny([" + ", ".join(f"toString({c})" for c in columns) + f"], {listed})"
