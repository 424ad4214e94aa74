"""Pseudonymisation of an identifier that is part of a table's sorting key.

The engine cannot rewrite a sorting-key column in place (``ALTER ... UPDATE`` refuses it). Learning
events and the learning state are sorted by learner, so when the register says the learning stream
is kept as evidence with the person pseudonymised, erasure copies the subject's rows with the key
column replaced by the pseudonym, then deletes the originals (a mutation that rewrites the parts,
so no copy stays on disk). Only rows whose key column names the subject are copied: a receipt
matched by its account id (not a key) keeps its consent id and is not copied.

An aggregate state is copied as it is (``learning_state``): its partial states merge under the
pseudonym as they did under the account id, so the totals that statistics draw from are unchanged
while no cell names the learner. The copy of ``learning_events`` fires that table's views as any
insert does: the learning state gets the same cells again (every aggregate there is idempotent), the
ledger gets the event ids with the digest ``erased``, and the last-use view leaves pseudonyms out.
"""

from __future__ import annotations

from typing import Any

from ccaudit.ingest.ledger import ERASED
from ccaudit.rights import keys
from ccaudit.rights.catalog import Described
from ccaudit.store import Store
from ccaudit.store.client import command, query_rows


def key_subject_columns(table: Described) -> list[str]:
    """The table's subject columns that are in its sorting key and hold a whole identifier."""
    return [c for c in table.info.subject_columns if c in table.key_columns and table.kind(c) == "value"]


def rekey(store: Store, table: Described, id_set: str, params: dict[str, Any], settings: str, *, platform: bool) -> int:
    """Copy the rows of ``table`` whose key columns name an identifier of ``id_set`` (a subquery)
    with those columns pseudonymised (``params`` binds its ``key``), then delete them; how many."""
    columns = key_subject_columns(table)
    if not columns:
        return 0
    where = "(" + " OR ".join(f"{c} IN {id_set}" for c in columns) + ")"
    if platform and table.has_platform:
        where += " AND platform = {platform:String}"
    db = store.database
    found = int(query_rows(store.client, f"SELECT count() FROM {db}.{table.name} WHERE {where}", params)[0][0])
    if not found:
        return 0
    names = list(table.columns)
    values = []
    for name in names:
        if name in columns:
            values.append(f"if({name} IN {id_set}, {keys.pseudonym_sql(name)}, {name})")
        elif name == "payload_sha256":
            values.append(f"'{ERASED}'")
        else:
            values.append(name)
    command(store.client, f"INSERT INTO {db}.{table.name} ({', '.join(names)}) "
            f"SELECT {', '.join(values)} FROM {db}.{table.name} WHERE {where}", params)  # fmt: skip
    command(store.client, f"ALTER TABLE {db}.{table.name} DELETE WHERE {where} SETTINGS {settings}", params)
    return found
