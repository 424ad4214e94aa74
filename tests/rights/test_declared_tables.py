"""A table declared in ccaudit.store.tables is covered by every right without a change elsewhere:
here a learning-state table (as the learning stream will add), with a rectifiable profile field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ccaudit.rights.actions import Actor, Rights, SubjectBody
from ccaudit.store import Store, tables
from ccaudit.store.client import command, insert_rows, query_rows
from ccaudit.store.tables import TableInfo
from tests.conftest import settings_for_tests

LEARNER_STATE = TableInfo(
    name="learner_state_example",
    stream="learning",
    subject_columns=("learner_id",),
    purpose="learning progress per learner (an example of a table a later stream declares)",
    rectifiable_columns=("profession",),
    purposes=("P5",),
)


@pytest.fixture
def with_learning(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    command(store.client, f"CREATE TABLE {store.database}.learner_state_example (learner_id String, "
            "profession LowCardinality(String), modules Array(String), updated_at DateTime64(3, 'UTC')) "
            "ENGINE = ReplacingMergeTree(updated_at) ORDER BY learner_id")  # fmt: skip
    now = datetime.now(UTC)
    insert_rows(store.client, store.database, "learner_state_example",
                [["acct-l1", "student", ["m1", "m2"], now], ["acct-l2", "teacher", ["m1"], now]],
                ["learner_id", "profession", "modules", "updated_at"])  # fmt: skip
    monkeypatch.setattr(tables, "PERSONAL_DATA_TABLES", (*tables.PERSONAL_DATA_TABLES, LEARNER_STATE))
    return store


def test_export_rectify_and_erase_reach_a_newly_declared_table(with_learning: Store) -> None:
    store = with_learning
    rights = Rights(store, settings_for_tests())
    body = SubjectBody(account_id="acct-l1", request_id="req-l")
    exported = rights.export(body, Actor("dpo-1", "dpo"))
    assert exported["tables"]["learner_state_example"] == [
        {"learner_id": "acct-l1", "profession": "student", "modules": ["m1", "m2"],
         "updated_at": exported["tables"]["learner_state_example"][0]["updated_at"]}
    ]  # fmt: skip

    done = rights.rectify(body.model_copy(update={"table": "learner_state_example", "column": "profession",
                                                  "value": "employee"}), Actor("dpo-1", "dpo"))  # fmt: skip
    assert done["rows"] == 1
    rows = query_rows(store.client, f"SELECT learner_id, profession FROM {store.database}.learner_state_example "
                      "FINAL ORDER BY learner_id")  # fmt: skip
    assert rows == [("acct-l1", "employee"), ("acct-l2", "teacher")]
    trail = query_rows(
        store.client, f"SELECT details FROM {store.database}.audit_events WHERE action = 'subject.rectify'"
    )
    assert trail[0][0]["column"] == "profession"
    assert "employee" not in str(trail[0][0])

    with pytest.raises(ValueError, match="rectifiable"):
        rights.rectify(body.model_copy(update={"table": "audit_events", "column": "actor_role", "value": "x"}),
                       Actor("dpo-1", "dpo"))  # fmt: skip

    # Erasure per purpose: P5 reaches the learning table and not the audit trail.
    erased = rights.erase(body.model_copy(update={"purpose": "P5"}), Actor("dpo-1", "dpo"))
    assert set(erased["tables"]) == {"learner_state_example"}
    left = query_rows(store.client, f"SELECT learner_id FROM {store.database}.learner_state_example FINAL")
    assert left == [("acct-l2",)]
