"""Rectification (GDPR art. 16) of a profile field kept as an aggregate state.

``learning_state`` keeps a learner's profession and organisation as ``argMax`` states over the event
time (migration 0012): the value of the latest event wins. Such a column cannot be assigned a value.
A correction is added as one more partial state per cell of the subject, whose time is the moment of
the correction: it wins over every event before it, and an event after it (the platform sending the
value anew) wins over it, as newer facts should. The other columns of the added row repeat the
cell's merged values; every aggregate there is idempotent, so they change nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ccaudit.rights.catalog import Described
from ccaudit.store import Store
from ccaudit.store.client import command

_SIMPLE = {"min": "min", "max": "max"}


def is_state(table: Described, column: str) -> bool:
    return table.columns[column].startswith("AggregateFunction(")


def rectify_state(
    store: Store, table: Described, column: str, where: str, params: dict[str, Any], now: datetime
) -> None:
    """Add a correction of ``column`` (an ``argMax`` state over (time, text)) to the cells ``where``
    selects, to the value bound as ``value``."""
    kind = table.columns[column]
    if not kind.startswith("AggregateFunction(argMax, String, Tuple(DateTime64(3, 'UTC'), String)"):
        raise ValueError(f"{table.name}.{column}: only a latest-value field can be rectified here")
    keys = [c for c in table.columns if c in table.key_columns]
    values = []
    for name, type_ in table.columns.items():
        if name in keys:
            values.append(name)
        elif name == column:
            values.append("argMaxState({value:String}, ({at:DateTime64(3, 'UTC')}, 'rectified'))")
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
