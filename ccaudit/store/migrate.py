"""The migration runner: numbered SQL templates in ``migrations/``, applied in order, once.

Each applied file is recorded with its SHA-256 in ``<db>.schema_migrations``; re-running is a no-op
and an applied file whose text changed is an error (add a new file instead). Files are templates so
that a cluster deployment can render them without edits:

    ${db}                     the database
    ${on_cluster}             '' here; 'ON CLUSTER <name>' on a cluster
    ${replacing_merge_tree}   'ReplacingMergeTree' here; its Replicated variant on a cluster
    ${merge_tree}             'MergeTree' here; its Replicated variant on a cluster

Statements are separated by a ';' at the end of a line and must be idempotent (IF NOT EXISTS), so
that a run interrupted half-way can simply be repeated.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from string import Template

from clickhouse_connect.driver.client import Client

from ccaudit.errors import MigrationError
from ccaudit.store.client import command, insert_rows, query_rows

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def migrations_dir() -> Path:
    """Where the migration files are: inside the installed wheel, or the source tree's folder."""
    packaged = Path(__file__).resolve().parent.parent / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "migrations"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    text: str

    @property
    def file_name(self) -> str:
        return f"{self.version:04d}_{self.name}"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def statements(self, database: str, cluster: str | None = None) -> list[str]:
        rendered = Template(self.text).substitute(
            db=database,
            on_cluster=f"ON CLUSTER {cluster}" if cluster else "",
            replacing_merge_tree="ReplacingMergeTree",
            merge_tree="MergeTree",
        )
        body = "\n".join(line for line in rendered.splitlines() if not line.lstrip().startswith("--"))
        return [s.strip() for s in re.split(r";\s*$", body, flags=re.M) if s.strip()]


def load_migrations(folder: Path | None = None) -> list[Migration]:
    folder = folder or migrations_dir()
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a number in {folder}")
    return found


def migrate(client: Client, database: str, folder: Path | None = None) -> list[Migration]:
    """Apply pending migrations to ``database``; return the ones applied now."""
    command(client, f"CREATE DATABASE IF NOT EXISTS {database}")
    command(
        client,
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations "
        "(version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC')) "
        "ENGINE = MergeTree ORDER BY version",
    )
    applied = {
        int(row[0]): (str(row[1]), str(row[2]))
        for row in query_rows(client, f"SELECT version, name, checksum FROM {database}.schema_migrations")
    }
    done = []
    for migration in load_migrations(folder):
        if migration.version in applied:
            name, checksum = applied[migration.version]
            if checksum != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version:04d}_{name} was applied and its file has changed since; "
                    "never edit an applied migration, add a new one"
                )
            continue
        for statement in migration.statements(database):
            command(client, statement)
        insert_rows(
            client,
            database,
            "schema_migrations",
            [[migration.version, migration.name, migration.checksum, datetime.now(UTC)]],
            ["version", "name", "checksum", "applied_at"],
        )
        done.append(migration)
    return done
