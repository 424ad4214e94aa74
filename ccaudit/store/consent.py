"""Writing consent receipts and reading one consent's history. Every value is a bound parameter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from ccaudit.store.client import insert_columns, jsonable, query_rows
from ccaudit.store.restricted import clause

COLUMNS = (
    "event_id", "event_time", "received_at", "platform", "consent_id", "account_id", "categories_accepted",
    "categories_rejected", "services_accepted", "services_rejected", "method", "action", "policy_revision",
    "banner_text_sha256", "language", "gpc", "dnt", "retention_days", "payload_sha256",
)  # fmt: skip

# Returned by the read API; retention and the payload digest are bookkeeping, not part of the receipt.
READ_COLUMNS = tuple(c for c in COLUMNS if c not in ("retention_days", "payload_sha256"))


def insert_consent(client: Client, database: str, columns: Sequence[Sequence[Any]]) -> None:
    """Insert column-oriented data, one sequence per name in COLUMNS."""
    insert_columns(client, database, "consent_receipts", columns, COLUMNS)


def consent_history(client: Client, database: str, consent_id: str) -> list[dict[str, Any]]:
    """Every receipt of ``consent_id`` (the canonical lower-case UUID text), oldest first."""
    # A restricted subject's receipts are kept as proof but not read (ccaudit.rights.restrict).
    sql = (
        f"SELECT {', '.join(READ_COLUMNS)} FROM {database}.consent_receipts FINAL "
        f"WHERE consent_id = {{consent_id:String}} AND {clause(database, ('account_id',))} "
        "ORDER BY event_time, event_id"
    )
    rows = query_rows(client, sql, {"consent_id": consent_id})
    return [{k: jsonable(v) for k, v in zip(READ_COLUMNS, row, strict=True)} for row in rows]
