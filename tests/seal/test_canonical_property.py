"""For any audit row (any text, any details, any float, any time), the engine's canonical form,
commitment, digest and leaf are the ones ccaudit.seal.canonical computes in Python: the one
definition the docs and the test vectors describe holds on both sides."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccaudit.seal import canonical as cf
from ccaudit.store import Store

# Text the engine stores as it is: no NUL-free limits in String, but surrogates cannot be UTF-8.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
OUTCOMES = ("success", "denied", "failed", "error", "aborted")


def _rows() -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {f.name: TEXT for f in cf.AUDIT.fields() if f.kind == "str"}
    fields.update(
        event_id=st.uuids(version=4).map(str),
        event_time=st.integers(0, 4_102_444_800_000),
        received_at=st.integers(0, 4_102_444_800_000),
        admin_operation=st.booleans(),
        is_bot=st.booleans(),
        status=st.integers(0, 65535),
        outcome=st.sampled_from(OUTCOMES),
        duration_ms=st.floats(allow_nan=False, allow_infinity=False, width=64),
        retention_days=st.integers(0, 65535),
        details=st.dictionaries(TEXT, TEXT, max_size=4),
    )
    return st.fixed_dictionaries(fields)


def _engine_values(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in ("event_time", "received_at"):
        out[name] = datetime.fromtimestamp(row[name] / 1000, UTC)
    out["event_id"] = uuid.UUID(row["event_id"])
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=_rows(), secret=st.binary(min_size=32, max_size=32))
def test_the_engines_hashes_of_any_row_are_pythons(store: Store, row: dict[str, Any], secret: bytes) -> None:
    db = store.database
    store.client.command(f"CREATE TABLE IF NOT EXISTS {db}.canon AS {db}.audit_events ENGINE = Memory")
    store.client.command(f"TRUNCATE TABLE {db}.canon")
    values = _engine_values(row)
    names = [f.name for f in cf.AUDIT.fields()]
    store.client.insert("canon", [[values[n] for n in names]], column_names=names, database=db)
    commitment = f"lower(hex({cf.hmac_sql(cf.personal_sql(cf.AUDIT), '{secret:String}')}))"
    sql = (
        f"SELECT _c, lower(hex({cf.digest_sql(cf.AUDIT, '_c')})) AS _d, "
        f"{cf.leaf_sql(cf.AUDIT.id_sql, cf.expires_sql(cf.AUDIT), cf.digest_sql(cf.AUDIT, '_c'))} "
        f"FROM (SELECT *, {commitment} AS _c FROM {db}.canon)"
    )
    got = store.client.query(sql, parameters={"secret": secret.hex()}).result_rows[0]
    expected_commitment = cf.commitment(cf.AUDIT, row, secret)
    digest = cf.row_digest(cf.AUDIT, row, expected_commitment)
    rid = cf.row_id(cf.AUDIT, row)
    assert got == (expected_commitment, digest, cf.leaf(rid, cf.expires_ms(cf.AUDIT, row), digest))
