"""Changes ccaudit itself makes to sealed rows, recorded so that verification accounts for them.

Erasure pseudonymises or deletes rows; the retention job deletes them and sets their retention anew;
a legal hold raises their retention. Each is a change of a row that may already be sealed, and each
recorded here by :func:`record` just before the statement that makes it, and finished after it::

    recorded = changes.record(store, "audit_events", where, params, "erased", cause="erasure")
    command(store.client, f"ALTER TABLE … UPDATE … WHERE {where}", params)
    recorded.finish()

Before the statement, one row per affected row of a sealed stream goes to ``seal_changes``
(migration 0035): its stream and id, the change (``erased``, ``deleted`` or ``retention``, with the
new expiry), the time and a cause (the given word and a random id, one per call). After the
statement succeeded, the secrets of erased and deleted rows are destroyed (a mutation, so no copy
stays on disk): the commitment in the row's sealed leaf can no longer confirm a guessed value. The
secret goes after the rows changed, never before, so that a sealer working meanwhile cannot give a
row still holding its personal values a fresh secret.

The records are a sealed stream of their own (``changes``, chain ``_service``): removed, changed or
forged after their seal, they show like any row. The verifier (:mod:`ccaudit.seal.verify`) accepts
a sealed row whose secret is gone only with an ``erased`` record, a removed one only with a
``deleted`` record or once its (recorded) retention ended, and a changed ``retention_days`` only
with a ``retention`` record giving the new expiry. A table of no sealed stream is left alone.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ccaudit.seal import canonical as cf
from ccaudit.store import Store
from ccaudit.store.client import command

Change = Literal["erased", "deleted", "retention"]
# Erasure's words (ccaudit.rights.erase) for what it does to a table's rows, as changes.
ERASURE: dict[str, Change] = {"pseudonymise": "erased", "delete": "deleted"}
_MUTATION = "mutations_sync = 2, allow_nondeterministic_mutations = 1"


def form_of(table: str) -> cf.StreamForm | None:
    """The sealed stream whose rows ``table`` holds (the change records' own table excepted)."""
    for form in cf.STREAMS.values():
        if form.table == table and form is not cf.CHANGES:
            return form
    return None


@dataclass(frozen=True, slots=True)
class Recorded:
    """Changes recorded for one statement; :meth:`finish` once the statement succeeded."""

    store: Store | None
    stream: str
    change: Change
    cause: str

    def finish(self) -> None:
        """Destroy the secrets of the rows erased or deleted (nothing for a retention change): blank
        the one beside each row's leaf (migration 0047), and delete one a row sealed before that
        migration keeps in row_secrets."""
        if self.store is None or self.change == "retention":
            return
        db = self.store.database
        rows = (
            f"stream = {{seal_stream:String}} AND row_id IN (SELECT row_id FROM {db}.seal_changes "
            f"WHERE stream = {{seal_stream:String}} AND cause = {{seal_cause:String}})"
        )
        params = {"seal_stream": self.stream, "seal_cause": self.cause}
        command(self.store.client, f"ALTER TABLE {db}.seal_leaves UPDATE secret = '' WHERE {rows} "
                f"AND secret != '' SETTINGS {_MUTATION}", params)  # fmt: skip
        command(self.store.client, f"ALTER TABLE {db}.row_secrets DELETE WHERE {rows} SETTINGS {_MUTATION}", params)


def record(
    store: Store,
    table: str,
    where: str,
    params: Mapping[str, Any],
    change: Change,
    *,
    cause: str,
    retention_days: int | None = None,
) -> Recorded:
    """Record ``change`` for the rows of ``table`` matching ``where`` (SQL over the table's columns,
    with ``params`` bound), before the caller's statement changes them. ``retention_days``: the new
    value, for a ``retention`` change. A table of no sealed stream records nothing."""
    form = form_of(table)
    if form is None:
        return Recorded(None, "", change, cause)
    if change == "retention" and retention_days is None:
        raise ValueError("a retention change needs its new retention_days")
    label = f"{cause}:{uuid.uuid4().hex}"
    expires = (
        f"(toInt64(toUnixTimestamp(event_time)) * 1000 + {{seal_days:Int64}} * {cf.DAY_MS})"
        if change == "retention"
        else cf.expires_sql(form)
    )
    platform = "toString(platform)" if form.per_platform else "{seal_platform:String}"
    bound = {
        **params,
        "seal_stream": form.stream,
        "seal_change": change,
        "seal_cause": label,
        "seal_days": retention_days or 0,
        "seal_platform": cf.SERVICE_PLATFORM,
        "seal_now": int(time.time() * 1000),
    }
    db = store.database
    command(
        store.client,
        f"INSERT INTO {db}.seal_changes (change_id, event_time, platform, stream, row_id, change, expires_ms, cause) "
        f"SELECT generateUUIDv4(), fromUnixTimestamp64Milli({{seal_now:Int64}}, 'UTC'), {platform}, "
        f"{{seal_stream:String}}, {form.id_sql}, {{seal_change:String}}, {expires}, {{seal_cause:String}} "
        f"FROM {db}.{table} WHERE {where}",
        bound,
    )
    return Recorded(store, form.stream, change, label)
