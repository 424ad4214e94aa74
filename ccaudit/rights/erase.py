"""Erasure (GDPR art. 17), per purpose or entirely, across raw and derived tables.

Generic over the declared tables (``catalog.py``). Per table, the register's word for its stream
(else the table's own) says what happens to the subject's rows:

- ``delete``: the rows go (a mutation that rewrites the parts, so no copy stays on disk);
- ``pseudonymise``: the rows stay as evidence; each subject column's identifiers become a keyed
  hash under a key made for this erasure and never stored (``keys.py``); the other identifying
  values (IP, user agent, payload digest) are emptied and the details lose the keys the register
  declares personal and every value naming the row's own subject. A pseudonymised id next to an IP would not
  be anonymous.

Columns in a table's sorting key cannot be rewritten in place: where one names the subject (the
learner of learning events and state) the rows are copied under the pseudonym and the originals
deleted (``rekey.py``); other key columns are left as they are (the consent id of a receipt is a
random cookie id: with the account id gone it no longer names anyone).

The ledger (``event_ids``) keeps erased events' ids with the digest ``erased``: a redelivery of an
erased event is acknowledged and not stored again, and no digest of the personal payload stays. The
list of erased subjects (``erased_subjects``) lets ingest treat late arrivals the same way. A held
account (``holds.py``) is not erased.

The identifiers of one erasure are written to ``erasure_batches`` and read by the engine, so a
retention run erases many accounts with one mutation per table.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ccaudit.ingest.ledger import ERASED
from ccaudit.register import ProcessingRegister
from ccaudit.rights import keys
from ccaudit.rights.catalog import Described, describe, matches, on_erase, purposes_of
from ccaudit.rights.rekey import rekey
from ccaudit.rights.subjects import Subject
from ccaudit.seal import changes as seal_changes
from ccaudit.store import Store
from ccaudit.store.client import command, insert_rows, query_rows

MUTATION = {"mutations_sync": 2, "allow_nondeterministic_mutations": 1}


class HeldError(ValueError):
    """The subject is under a legal hold: nothing of theirs may be erased until it is lifted."""


@dataclass(frozen=True, slots=True)
class Erased:
    """What one erasure did: per table, 'delete' or 'pseudonymise' and the rows it touched."""

    tables: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(n for _, n in self.tables.values())

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "tables": {k: {"action": a, "rows": n} for k, (a, n) in self.tables.items()}}


def erase(
    store: Store,
    register: ProcessingRegister,
    subject: Subject,
    *,
    now: datetime,
    purpose: str | None = None,
    streams: Iterable[str] | None = None,
) -> Erased:
    """Erase ``subject`` from the declared tables (those serving ``purpose`` / of ``streams`` only,
    when given); raises HeldError for a held account."""
    from ccaudit.rights.holds import held_accounts

    if subject.account_ids and held_accounts(store, subject.account_ids, subject.platform):
        raise HeldError("the subject is under a legal hold; lift it first")
    wanted = set(streams) if streams is not None else None
    platform = subject.platform or "default"
    tables = [
        t for t in describe(store.client, store.database)
        if (wanted is None or t.info.stream in wanted)
        and (purpose is None or purpose in purposes_of(t.info, register, platform))
    ]  # fmt: skip
    return erase_identifiers(
        store, register, subject.identifiers, tables, subject.platform, now, match_details=bool(subject.extra)
    )


def erase_identifiers(
    store: Store,
    register: ProcessingRegister,
    identifiers: Iterable[str],
    tables: list[Described],
    platform: str | None,
    now: datetime,
    *,
    match_details: bool = False,
    remember: bool = True,
) -> Erased:
    """Erase rows naming any of ``identifiers`` in ``tables`` (of ``platform``, or every platform);
    ``match_details``: rows whose details name one under a personal key too (an e-mail given);
    ``remember``: add them to the list of erased subjects, for late arrivals."""
    db = store.database
    batch = uuid.uuid4().hex
    ids_list = sorted({i for i in identifiers if i})
    if not ids_list:
        return Erased()
    insert_rows(store.client, db, "erasure_batches", [[batch, i, now] for i in ids_list],
                ["batch_id", "identifier", "created_at"])  # fmt: skip
    ids = f"(SELECT groupArray(identifier) FROM {db}.erasure_batches WHERE batch_id = {{batch:String}})"
    id_set = f"(SELECT identifier FROM {db}.erasure_batches WHERE batch_id = {{batch:String}})"
    key = keys.new_key()
    personal = list(register.personal_details())
    params: dict[str, Any] = {"batch": batch, "key": key, "personal": personal, "platform": platform or ""}
    done: dict[str, tuple[str, int]] = {}
    pseudonymised = False
    try:
        for table in tables:
            where = matches(table, ids, id_set, personal if match_details else ())
            if platform is not None and table.has_platform:
                where += " AND platform = {platform:String}"
            count = int(query_rows(store.client, f"SELECT count() FROM {db}.{table.name} WHERE {where}", params)[0][0])
            if not count:
                continue
            if "event_id" in table.columns:
                # First, while the rows still match: the ledger keeps no digest of what is erased.
                command(store.client, f"ALTER TABLE {db}.event_ids UPDATE payload_sha256 = '{ERASED}' "
                        f"WHERE event_id IN (SELECT event_id FROM {db}.{table.name} WHERE {where}) "
                        f"SETTINGS {_settings()}", params)  # fmt: skip
            action = on_erase(table.info, register, platform or "default")
            sealed = seal_changes.record(store, table.name, where, params, seal_changes.ERASURE[action], cause="erase")
            if action == "pseudonymise":
                assignments = _pseudonymise(table, ids, id_set)
                if assignments:
                    command(store.client, f"ALTER TABLE {db}.{table.name} UPDATE {', '.join(assignments)} "
                            f"WHERE {where} SETTINGS {_settings()}", params)  # fmt: skip
                    pseudonymised = True
                # Sorting-key columns naming the subject (a learner; the person audit_by_person files
                # an event under) cannot be updated: those rows are re-keyed under the pseudonym.
                if rekey(store, table, id_set, params, _settings(), platform=platform is not None):
                    pseudonymised = True
            else:
                command(store.client, f"ALTER TABLE {db}.{table.name} DELETE WHERE {where} SETTINGS {_settings()}",
                        params)  # fmt: skip
            sealed.finish()  # the rows' secrets go once their values are gone (ccaudit.seal.changes)
            done[table.name] = (action, count)
        streams = sorted({t.info.stream for t in tables if t.name in done})
        if done and remember:
            _remember(store, ids_list, key if pseudonymised else None, platform, streams, now)
    finally:
        command(store.client, f"ALTER TABLE {db}.erasure_batches DELETE WHERE batch_id = {{batch:String}} "
                f"SETTINGS {_settings()}", {"batch": batch})  # fmt: skip
        del key  # the erasure's key lives no longer than the erasure
    return Erased(done)


def _settings() -> str:
    return ", ".join(f"{k} = {v}" for k, v in MUTATION.items())


def _pseudonymise(table: Described, ids: str, id_set: str) -> list[str]:
    """UPDATE assignments that pseudonymise the subject in ``table`` and empty what identifies them."""
    out: list[str] = []
    values = [c for c in table.info.subject_columns if table.kind(c) == "value"]
    for column in table.info.subject_columns:
        if column in table.key_columns:
            continue
        kind = table.kind(column)
        if kind == "value":
            cast = f"toString({column})"
            when = f"{table.info.condition(column) or 'true'} AND {cast} IN {id_set}"
            out.append(f"{column} = if({when}, {keys.pseudonym_sql(cast)}, {column})")
        elif kind == "array":
            out.append(f"{column} = arrayMap(x -> if(has({ids}, x), {keys.pseudonym_sql('x')}, x), {column})")
        elif kind == "text":
            out.append(f"{column} = arrayStringConcat(arrayMap(x -> if(has({ids}, x), {keys.pseudonym_sql('x')}, x), "
                       f"splitByChar('\"', {column})), '\"')")  # fmt: skip
        else:
            out.append(f"{column} = mapFilter((k, v) -> NOT has({ids}, v), {column})")
    own = ", ".join(f"toString({c})" for c in values) or "''"
    for column in table.info.identifying_columns:
        if column in table.key_columns:
            continue
        kind = table.kind(column)
        if kind == "map":
            # The keys the register declares personal, and values naming the row's own subject: a
            # lookup per entry in the whole batch would cost the batch's size per row.
            out.append(f"{column} = mapFilter((k, v) -> NOT (has({{personal:Array(String)}}, lower(k)) "
                       f"OR has([{own}], v)), {column})")  # fmt: skip
        elif kind == "array":
            out.append(f"{column} = []")
        elif column == "payload_sha256":
            out.append(f"{column} = '{ERASED}'")
        elif table.columns[column].endswith("String)") or table.columns[column] == "String":
            out.append(f"{column} = ''")
    return out


def _remember(
    store: Store, identifiers: list[str], key: str | None, platform: str | None, streams: list[str], now: datetime
) -> None:
    """Add the identifiers to the list of erased subjects (as keyed digests), with the streams erased
    and the pseudonyms the kept rows now carry: a late arrival of those streams is treated alike."""
    late = keys.late_key(store, now)
    rows = [
        [keys.digest(late, i), platform or "*", streams, keys.pseudonym(key, i) if key else "", now]
        for i in identifiers
    ]
    columns = ["digest", "platform", "streams", "pseudonym", "erased_at"]
    insert_rows(store.client, store.database, "erased_subjects", rows, columns)
