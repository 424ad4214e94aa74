"""Rectification (GDPR art. 16) of a profile field kept as an aggregate of the learner's events.

A learner's latest profession and organisation are kept in two derived tables, each as the value of
the latest event: ``learning_state`` per module and lesson as ``argMax`` states (migration 0012),
``learning_learners`` per learner as the max of (time, event id, value) tuples (migration 0044).
Such a column cannot be assigned a value. A correction is added as one more partial state per cell of
the subject, whose time is the moment of the correction and whose id is 'rectified' (it sorts after
any event id's hex text): it wins over every event before it, and an event after it (the platform
sending the value anew) wins over it, as newer facts should. The other columns of the added row
repeat the cell's merged values; every aggregate there is idempotent, so they change nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ccaudit.rights.catalog import Described
from ccaudit.store import Store
from ccaudit.store.client import command

_SIMPLE = {"min": "min", "max": "max"}
_ARG_MAX = "AggregateFunction(argMax, String, Tuple(DateTime64(3, 'UTC'), String)"
_LATEST = "SimpleAggregateFunction(max, Tuple(DateTime64(3, 'UTC'), String, String))"
_CORRECTED = {
    _ARG_MAX: "argMaxState({value:String}, ({at:DateTime64(3, 'UTC')}, 'rectified'))",
    _LATEST: "({at:DateTime64(3, 'UTC')}, 'rectified', {value:String})",
}


def is_state(table: Described, column: str) -> bool:
    """Whether ``column`` is an aggregate (kept by merging), not a value to assign."""
    return table.columns[column].startswith(("AggregateFunction(", "SimpleAggregateFunction("))


def rectify_state(
    store: Store, table: Described, column: str, where: str, params: dict[str, Any], now: datetime
) -> None:
    """Add a correction of ``column`` (a latest-value aggregate over (time, text)) to the cells
    ``where`` selects, to the value bound as ``value``."""
    kind = table.columns[column]
    corrected = next((sql for prefix, sql in _CORRECTED.items() if kind.startswith(prefix)), None)
    if corrected is None:
        raise ValueError(f"{table.name}.{column}: only a latest-value field can be rectified here")
    keys = [c for c in table.columns if c in table.key_columns]
    values = []
    for name, type_ in table.columns.items():
        if name in keys:
            values.append(name)
        elif name == column:
            values.append(corrected)
        elif type_.startswith("SimpleAggregateFunction("):
            function = type_.split("(", 2)[1].split(",")[0].strip()
            values.append(f"{_SIMPLE[function]}({name})")
        else:
            function = type_.split("(", 2)[1].split(",")[0].strip()
            values.append(f"{function}MergeState({name})")
    db = store.database
    command(store.client, f"INSERT INTO {db}.{table.name} ({', '.join(table.columns)}) "
            f"SELECT {', '.join(values)} FROM {db}.{table.name} WHERE {where} GROUP BY {', '.join(keys)}",
            {**params, "at": now})  # fmt: skip
