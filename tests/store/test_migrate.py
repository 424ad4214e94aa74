"""The migration runner against the real embedded engine."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from ccaudit.errors import MigrationError
from ccaudit.store.migrate import load_migrations, migrate, migrations_dir


def fresh_db() -> str:
    return f"m_{uuid.uuid4().hex[:12]}"


def test_applies_in_order_and_rerun_is_a_no_op(chdb_client: Client) -> None:
    db = fresh_db()
    applied = migrate(chdb_client, db)
    assert [m.version for m in applied] == [m.version for m in load_migrations()]
    assert migrate(chdb_client, db) == []
    tables = {r[0] for r in chdb_client.query(f"SELECT name FROM system.tables WHERE database = '{db}'").result_rows}
    assert {"audit_events", "schema_migrations"} <= tables
    engine = chdb_client.command(f"SELECT engine FROM system.tables WHERE database = '{db}' AND name = 'audit_events'")
    assert engine == "ReplacingMergeTree"


def test_an_edited_applied_migration_is_an_error(chdb_client: Client, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder)
    db = fresh_db()
    migrate(chdb_client, db, folder)
    first = sorted(folder.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="has changed"):
        migrate(chdb_client, db, folder)


def test_a_new_migration_is_applied_after_the_others(chdb_client: Client, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder)
    db = fresh_db()
    migrate(chdb_client, db, folder)
    (folder / "9999_extra.sql").write_text(
        "CREATE TABLE IF NOT EXISTS ${db}.extra ${on_cluster} (x UInt8) ENGINE = ${merge_tree} ORDER BY x;\n"
    )
    assert [m.name for m in migrate(chdb_client, db, folder)] == ["extra"]


def test_badly_named_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_bad.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        load_migrations(tmp_path)


def test_templates_render_for_a_cluster_without_edits() -> None:
    for migration in load_migrations():
        for statement in migration.statements("ccaudit", cluster="prod"):
            assert "${" not in statement
            if statement.startswith("CREATE TABLE"):
                assert "ON CLUSTER prod" in statement


def test_every_table_the_migrations_create_is_registered(chdb_client: Client) -> None:
    """Retention, export and erasure walk the registry: a table missing from it would be missed."""
    from ccaudit.store.tables import ALL_TABLES, SUPPORT_TABLES, VIEWS

    db = fresh_db()
    migrate(chdb_client, db)
    created = {r[0] for r in chdb_client.query(f"SELECT name FROM system.tables WHERE database = '{db}'").result_rows}
    assert created == {t.name for t in ALL_TABLES} | SUPPORT_TABLES | VIEWS
