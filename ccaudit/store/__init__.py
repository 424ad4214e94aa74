"""The ClickHouse store: one client (embedded chDB or a server) and one database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from ccaudit.settings import Settings
from ccaudit.store import audit, consent, learning, usage
from ccaudit.store.client import job_client, open_client
from ccaudit.store.migrate import Migration, migrate


@dataclass(frozen=True, slots=True)
class Store:
    """A client bound to ccaudit's database."""

    client: Client
    database: str

    @classmethod
    def open(cls, settings: Settings) -> Store:
        return cls(open_client(settings.store_dsn), settings.database)

    def for_job(self, job: str) -> Store:
        """The same database through a client of the job's own (``client.job_client``)."""
        return Store(job_client(self.client, job), self.database)

    def migrate(self) -> list[Migration]:
        return migrate(self.client, self.database)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    def insert_audit(self, columns: Sequence[Sequence[Any]]) -> None:
        audit.insert_audit(self.client, self.database, columns)

    def search_audit(self, query: audit.AuditQuery) -> tuple[list[dict[str, Any]], str | None]:
        return audit.search_audit(self.client, self.database, query)

    def insert_usage(self, columns: Sequence[Sequence[Any]]) -> None:
        usage.insert_usage(self.client, self.database, columns)

    def summarise_usage(self, query: usage.UsageQuery) -> dict[str, Any]:
        return usage.summarise_usage(self.client, self.database, query)

    def insert_consent(self, columns: Sequence[Sequence[Any]]) -> None:
        consent.insert_consent(self.client, self.database, columns)

    def insert_learning(self, columns: Sequence[Sequence[Any]]) -> None:
        learning.insert_learning(self.client, self.database, columns)

    def consent_history(self, consent_id: str) -> list[dict[str, Any]]:
        return consent.consent_history(self.client, self.database, consent_id)


__all__ = ["Store"]
