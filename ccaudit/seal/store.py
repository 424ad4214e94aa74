"""The seals' SQL: secrets and leaves computed in the engine, seals stored and read back.

Hashing happens where the rows are: SHA-256 and HMAC-SHA256 in the engine run at millions of rows a
second, where fetching each row into Python costs microseconds. Only leaves (hex) come back, to build
a period's Merkle root. Identifiers (database, tables, columns) come from ccaudit.seal.canonical and
the validated settings; every value is bound.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from ccaudit.seal import canonical as cf
from ccaudit.seal import merkle
from ccaudit.seal.seals import Leaf, Seal
from ccaudit.store.client import command, insert_rows, query_bytes, query_rows

SEAL_COLUMNS = (
    "platform", "stream", "seq", "period_start", "period_end", "leaf_count", "seal_hash", "key_id", "payload",
    "signature", "sealer",
)  # fmt: skip


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _range(form: cf.StreamForm) -> str:
    where = (
        f"{form.arrival} >= fromUnixTimestamp64Milli({{start:Int64}}, 'UTC') "
        f"AND {form.arrival} < fromUnixTimestamp64Milli({{end:Int64}}, 'UTC')"
    )
    if form.per_platform:
        where += " AND platform = {platform:String}"
    return where


def _source(database: str, form: cf.StreamForm) -> str:
    return f"{database}.{form.table}{' FINAL' if form.final else ''}"


# Sealing and verifying read a period's rows FINAL, found by the arrival index (migration 0041). In
# its default, exact mode the engine widens what the index found to every granule whose sorting key
# range overlaps it; a period's rows span every organisation, so that was the whole table, each
# round. A period is the row versions that arrived in it, collapsed among themselves: every version
# of a row keeps its arrival time (erasure and retention change rows in place).
_BY_ARRIVAL = " SETTINGS use_skip_indexes_if_final_exact_mode = 0"


def _hashed(form: cf.StreamForm) -> str:
    """SELECT of a row's id, expiry, commitment (hex) and raw digest, from rows with ``_k_secret``."""
    commitment = f"lower(hex({cf.hmac_sql(cf.personal_sql(form), '_k_secret')}))"
    return (
        f"SELECT *, {form.id_sql} AS _rid, {cf.expires_sql(form)} AS _exp, {commitment} AS _c, "
        f"{cf.digest_sql(form, '_c')} AS _d"
    )


# A seal_leaves row (platform, stream, seq, row_id, expires_ms, digest, commitment, leaf) from ``_hashed``.
_LEAF_COLUMNS = "{platform:String}, {stream:String}, {seq:UInt64}, _rid, _exp, lower(hex(_d)), _c, " + cf.leaf_sql(
    "_rid", "_exp", "_d"
)

_of_seq = "platform = {platform:String} AND stream = {stream:String} AND seq = {seq:UInt64}"

# How long a sealer's claim on a seq holds against other sealers without its seal being made: long
# enough for the longest pass (a first seal covers everything stored before sealing began), after
# which another sealer takes over a seq whose sealer is gone. A sealer that restarts keeps its
# identity (ccaudit.seal.sealer) and takes its own interrupted seq over at once.
CLAIM_MS = 3_600_000


def _secrets(database: str) -> str:
    """Each row's secret, for the rows sealed under the bound ``secret_seqs`` of the bound chain: the
    one beside its leaf (migration 0047), found by the seqs. Rows sealed before that migration, or
    whose secret erasure blanked, look theirs up in row_secrets by id: few ids, found by its sorting
    key, except in a stretch sealed before the migration, which reads that table whole as it always
    did."""
    leaves = (
        f"{database}.seal_leaves WHERE platform = {{platform:String}} AND stream = {{stream:String}} "
        "AND has({secret_seqs:Array(UInt64)}, seq)"
    )
    return (
        f"(SELECT row_id AS _k_row_id, argMax(secret, here) AS _k_secret FROM ("
        f"SELECT row_id, secret, 1 AS here FROM {leaves} AND secret != '' "
        f"UNION ALL SELECT row_id, secret, 0 AS here FROM {database}.row_secrets WHERE stream = {{stream:String}} "
        f"AND row_id IN (SELECT row_id FROM {leaves} AND secret = '')) GROUP BY row_id)"
    )


@dataclass(frozen=True)
class SealStore:
    client: Client
    database: str

    def _params(self, form: cf.StreamForm, platform: str, start: int, end: int, **more: Any) -> dict[str, Any]:
        return {"platform": platform, "stream": form.stream, "start": start, "end": end, **more}

    def platforms_with_rows(self, form: cf.StreamForm, start: int, end: int) -> list[str]:
        """Platforms with rows of ``form`` that arrived in [start, end)."""
        if not form.per_platform:
            return [cf.SERVICE_PLATFORM]
        where = (
            f"{form.arrival} >= fromUnixTimestamp64Milli({{start:Int64}}, 'UTC') "
            f"AND {form.arrival} < fromUnixTimestamp64Milli({{end:Int64}}, 'UTC')"
        )
        sql = f"SELECT DISTINCT toString(platform) FROM {self.database}.{form.table} WHERE {where}"
        return [str(r[0]) for r in query_rows(self.client, sql, {"start": start, "end": end})]

    def make_leaves(
        self, form: cf.StreamForm, platform: str, seq: int, start: int, end: int, sealer: str
    ) -> PeriodLeaves | None:
        """Give the period's rows their secrets, store their leaves under ``seq`` and return them in
        canonical order; None when another sealer holds ``seq`` (it is sealing it, or did within
        :data:`CLAIM_MS` and has not sealed it yet).

        One pass: the period's rows are read once, each drawing its secret as its leaf is computed,
        and both are written into ``seal_leaves`` (migration 0047). Leaves an interrupted attempt at
        this seq left behind (a crash before its seal) are deleted first, their secrets with them:
        no seal ever used those.

        Before any of it the sealer claims the seq (migration 0046), an empty period too: its attempt
        row is inserted with a deduplication token naming the seq and how many attempts came before,
        so that of two sealers racing for it the engine keeps one row, and only the sealer whose row
        was kept goes on. Two sealers must never both draw secrets for a period's rows: the seal
        would hold one leaf per row and the store two secrets, one of which does not give the leaf.
        Nor may one seal a seq empty while the other, its period ending a little later, draws
        secrets for rows the next seq will cover."""
        params = self._params(form, platform, start, end, seq=seq, sealer=sealer, claim=CLAIM_MS)
        db = self.database
        attempts = f"{db}.seal_attempts WHERE {_of_seq}"
        # One question first, as most periods of most chains are empty: rows? attempts begun, leaves
        # left by one, attempts another sealer made within the claim?
        ((has_rows, tried, has_leaves, held),) = query_rows(
            self.client,
            f"SELECT (SELECT count() FROM (SELECT 1 FROM {db}.{form.table} WHERE {_range(form)} LIMIT 1)), "
            f"(SELECT count() FROM {attempts}), "
            f"(SELECT count() FROM (SELECT 1 FROM {db}.seal_leaves WHERE {_of_seq} LIMIT 1)), "
            f"(SELECT count() FROM {attempts} AND sealer NOT IN ('', {{sealer:String}}) "
            f"AND began > now64(3) - toIntervalMillisecond({{claim:Int64}}))",
            params,
        )
        if held:
            return None
        insert_rows(self.client, db, "seal_attempts", [[platform, form.stream, seq, sealer]],
                    ("platform", "stream", "seq", "sealer"),
                    {"insert_deduplication_token": f"claim/{platform}/{form.stream}/{seq}/{tried}"})  # fmt: skip
        ((claimant,),) = query_rows(self.client, f"SELECT argMax(sealer, began) FROM {attempts}", params)
        if claimant != sealer:
            return None
        if has_leaves:
            # A mutation, costly, but rare.
            command(self.client, f"DELETE FROM {db}.seal_leaves WHERE {_of_seq}", params)
        if not has_rows:
            return PeriodLeaves(0, merkle.EMPTY_ROOT, b"")
        # The secret is drawn in the innermost query: one value per row, which the commitment and the
        # stored secret both read.
        command(
            self.client,
            f"INSERT INTO {db}.seal_leaves (platform, stream, seq, row_id, expires_ms, digest, commitment, leaf, "
            f"secret) SELECT {_LEAF_COLUMNS}, _k_secret FROM ({_hashed(form)} FROM ("
            f"SELECT *, lower(hex(randomString(32))) AS _k_secret FROM {_source(db, form)} "
            f"WHERE {_range(form)})){_BY_ARRIVAL}",
            params,
        )
        return self.period_leaves(platform, form.stream, seq)

    def period_leaves(self, platform: str, stream: str, seq: int) -> PeriodLeaves:
        """The leaves under ``seq`` as the sealer needs them, all computed or rendered by the engine:
        their number, their root, and the seal file's listing in canonical order. Decoding a leaf per
        row into Python, and encoding it again for the file, held the service's interpreter lock
        beside ingest for about a quarter of a sealing round."""
        params = {"platform": platform, "stream": stream, "seq": seq}
        count, root = self.root(platform, stream, seq)
        order = f"FROM {self.database}.seal_leaves WHERE {_of_seq} ORDER BY row_id, leaf"
        # Each leaf a JSON array, the arrays separated by commas: the seal file's list, written as it is.
        listing = query_bytes(
            self.client,
            f"SELECT row_id, expires_ms, digest, commitment, leaf {order}",
            params,
            "CustomSeparated",
            {
                "format_custom_escaping_rule": "JSON",
                "format_custom_field_delimiter": ",",
                "format_custom_row_before_delimiter": "[",
                "format_custom_row_after_delimiter": "]",
                "format_custom_row_between_delimiter": ",",
                # Numbers as numbers, slashes (an access row's id) as they are.
                "output_format_json_quote_64bit_integers": 0,
                "output_format_json_escape_forward_slashes": 0,
            },
        )
        return PeriodLeaves(count, root, listing)

    def leaves(self, platform: str, stream: str, seq: int) -> list[Leaf]:
        rows = query_rows(
            self.client,
            f"SELECT row_id, expires_ms, digest, commitment, leaf FROM {self.database}.seal_leaves "
            f"WHERE {_of_seq} ORDER BY row_id, leaf",
            {"platform": platform, "stream": stream, "seq": seq},
        )
        return [Leaf(str(a), int(b), str(c), str(d), str(e)) for a, b, c, d, e in rows]

    def root(self, platform: str, stream: str, seq: int) -> tuple[int, str]:
        """The number of leaves under ``seq`` and their Merkle root (hex), computed in the engine over
        the leaves sorted as the canonical order has them (by row id, then leaf)."""
        hashes = "arrayMap(x -> unhex(x.2), arraySort(groupArray((row_id, leaf))))"
        sql = f"SELECT count(), {merkle.root_sql(hashes)} FROM {self.database}.seal_leaves WHERE {_of_seq}"
        ((count, root),) = query_rows(self.client, sql, {"platform": platform, "stream": stream, "seq": seq})
        return int(count), str(root)

    def insert_seal(self, seal: Seal, signature: str, sealer: str) -> None:
        row = [
            seal.platform, seal.stream, seal.seq, _time(seal.period_start_ms), _time(seal.period_end_ms),
            seal.leaf_count, seal.hash(), seal.key_id, seal.payload().decode(), signature, sealer,
        ]  # fmt: skip
        # The token makes a second insert of this seq a no-op: two racing sealers store one seal.
        token = f"seal/{seal.platform}/{seal.stream}/{seal.seq}"
        insert_rows(self.client, self.database, "seals", [row], SEAL_COLUMNS, {"insert_deduplication_token": token})

    def stored_seals(self, platform: str | None = None, stream: str | None = None) -> list[StoredSeal]:
        """Every stored seal (of a platform, of a stream), by platform, stream and seq column."""
        where, params = [], {}
        if platform is not None:
            where.append("platform = {platform:String}")
            params["platform"] = platform
        if stream is not None:
            where.append("stream = {stream:String}")
            params["stream"] = stream
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = query_rows(
            self.client,
            f"SELECT toString(platform), toString(stream), seq, payload, signature FROM {self.database}.seals"
            f"{clause} ORDER BY platform, stream, seq",
            params,
        )
        return [StoredSeal(str(a), str(b), int(c), str(d), str(e)) for a, b, c, d, e in rows]

    def latest(self, platform: str, stream: str) -> StoredSeal | None:
        rows = query_rows(
            self.client,
            f"SELECT toString(platform), toString(stream), seq, payload, signature FROM {self.database}.seals "
            "WHERE platform = {platform:String} AND stream = {stream:String} ORDER BY seq DESC LIMIT 1",
            {"platform": platform, "stream": stream},
        )
        if not rows:
            return None
        a, b, c, d, e = rows[0]
        return StoredSeal(str(a), str(b), int(c), str(d), str(e))

    def chains(self) -> list[tuple[str, str]]:
        rows = query_rows(
            self.client, f"SELECT DISTINCT toString(platform), toString(stream) FROM {self.database}.seals"
        )
        return sorted((str(a), str(b)) for a, b in rows)

    def check_rows(
        self,
        form: cf.StreamForm,
        platform: str,
        span: tuple[int, int],
        stored_seqs: Sequence[int],
        other_leaves: Sequence[tuple[int, Leaf]],
        now_ms: int,
    ) -> list[tuple[str, int, str]]:
        """Rows whose state differs from what was sealed, for the rows that arrived in ``span``
        ([start, end) of the seals checked): (verdict, seq, row id). The sealed leaves are those
        stored under ``stored_seqs`` and ``other_leaves`` (from the seal folder, for seals whose
        stored leaves cannot be trusted). Verdicts: ``modified`` (a public field, or a personal one
        while its secret exists), ``removed`` (sealed, gone before its retention ended), ``expired``
        (gone after it, or after the retention a ``retention`` change record gives it: clean),
        ``inserted`` (stored in a sealed period, in no seal), ``secret_gone`` (its secret destroyed
        with no ``erased`` record: its personal fields may have been changed unseen). Accounted for
        by ccaudit.seal.changes, and clean: ``erased`` (secret destroyed by an erasure),
        ``erased_deleted`` (removed by an erasure or the retention job) and ``retention_changed``
        (as sealed but for a recorded new retention)."""
        db = self.database
        start, end = span
        extra = "\n".join(
            json.dumps({"seq": q, "row_id": x.row_id, "expires_ms": x.expires_ms, "commitment": x.commitment,
                        "leaf": x.leaf})
            for q, x in other_leaves
        )  # fmt: skip
        every_seq = sorted({*stored_seqs, *(q for q, _ in other_leaves)})
        params = self._params(
            form, platform, start, end, now=now_ms, seqs=list(stored_seqs), extra=extra, secret_seqs=every_seq
        )
        columns = "seq AS _s_seq, row_id AS _s_row_id, expires_ms AS _s_exp, commitment AS _s_c, leaf AS _s_leaf"
        sealed = (
            f"(SELECT {columns} FROM {db}.seal_leaves WHERE platform = {{platform:String}} "
            "AND stream = {stream:String} AND has({seqs:Array(UInt64)}, seq) "
            f"UNION ALL SELECT {columns} FROM format(JSONEachRow, "
            "'seq UInt64, row_id String, expires_ms Int64, commitment String, leaf String', {extra:String}))"
        )
        rows = f"(SELECT *, {form.id_sql} AS _r_row_id FROM {_source(db, form)} WHERE {_range(form)})"
        leaf_now = cf.leaf_sql("_r_row_id", cf.expires_sql(form), cf.digest_sql(form, "_s_c"))
        personal_ok = f"lower(hex({cf.hmac_sql(cf.personal_sql(form), '_k_secret')})) = _s_c"
        if form.fixed_retention_days is None:
            # The row as sealed but for its retention_days, which the sealed expiry gives back.
            as_sealed = cf.digest_sql(form, "_s_c", {"retention_days": cf.sealed_days_sql("_s_exp")})
            retention_ok = (
                f"_c_ret > 0 AND {cf.expires_sql(form)} = _c_exp AND {cf.leaf_sql('_r_row_id', '_s_exp', as_sealed)} "
                "= _s_leaf"
            )
        else:
            retention_ok = "0"
        expired = "if(_c_ret > 0, _c_exp, _s_exp) <= {now:Int64}"
        gone = f"multiIf(_c_deleted, 'erased_deleted', {expired}, 'expired', 'removed')"
        verdict = (
            f"multiIf(_r_row_id = '', {gone}, _s_row_id = '', 'inserted', "
            f"{leaf_now} != _s_leaf AND NOT ({retention_ok}), 'modified', "
            f"_k_secret = '', if(_c_erased, 'erased', 'secret_gone'), NOT ({personal_ok}), 'modified', "
            f"{leaf_now} != _s_leaf, 'retention_changed', 'ok')"
        )
        # What ccaudit itself changed (ccaudit.seal.changes), per row: few rows beside the trail.
        changed = (
            f"(SELECT row_id AS _c_row_id, max(change = 'erased') AS _c_erased, max(change = 'deleted') AS _c_deleted, "
            "countIf(change = 'retention') AS _c_ret, "
            "argMaxIf(expires_ms, (event_time, change_id), change = 'retention') AS _c_exp "
            f"FROM {db}.seal_changes WHERE stream = {{stream:String}} AND platform = {{platform:String}} "
            "GROUP BY row_id)"
        )
        sql = (
            f"SELECT _v, _s_seq, if(_s_row_id = '', _r_row_id, _s_row_id) FROM ("
            f"SELECT {verdict} AS _v, _s_seq, _s_row_id, _r_row_id FROM {sealed} AS s "
            f"FULL OUTER JOIN {rows} AS r ON s._s_row_id = r._r_row_id "
            f"LEFT JOIN {_secrets(db)} AS k ON k._k_row_id = _r_row_id "
            f"LEFT JOIN {changed} AS c ON c._c_row_id = if(_s_row_id = '', _r_row_id, _s_row_id)"
            f") WHERE _v != 'ok' ORDER BY 2, 3{_BY_ARRIVAL}"
        )
        return [(str(v), int(s), str(r)) for v, s, r in query_rows(self.client, sql, params)]

    def accounted(self, platform: str | None = None) -> list[dict[str, Any]]:
        """What ccaudit changed in sealed rows, per operation (cause), change and chain."""
        where = " WHERE platform = {platform:String}" if platform is not None else ""
        rows = query_rows(
            self.client,
            f"SELECT cause, change, toString(platform), toString(stream), count(), min(event_time) "
            f"FROM {self.database}.seal_changes{where} GROUP BY cause, change, platform, stream "
            "ORDER BY min(event_time), cause, change, platform, stream",
            {"platform": platform or ""},
        )
        return [
            {"cause": str(a), "change": str(b), "platform": str(c), "stream": str(d), "rows": int(e),
             "at": f.isoformat() if hasattr(f, "isoformat") else str(f)}
            for a, b, c, d, e, f in rows
        ]  # fmt: skip

    def count_rows(self, form: cf.StreamForm, platform: str, start: int, end: int) -> int:
        sql = f"SELECT count() FROM {_source(self.database, form)} WHERE {_range(form)}{_BY_ARRIVAL}"
        return int(query_rows(self.client, sql, self._params(form, platform, start, end))[0][0])


@dataclass(frozen=True, slots=True)
class PeriodLeaves:
    """A period's leaves for its seal: their number, their Merkle root (hex) and their JSON arrays for
    the seal file's list, comma-separated (without the brackets), in canonical order."""

    count: int
    root: str
    listing: bytes


@dataclass(frozen=True, slots=True)
class StoredSeal:
    platform: str
    stream: str
    seq: int
    payload: str
    signature: str
