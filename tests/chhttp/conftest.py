"""Fixtures for the ClickHouse HTTP path: see ``tests.chhttp.fixtures``."""

from tests.chhttp.fixtures import clickhouse_server, clickhouse_url

__all__ = ["clickhouse_server", "clickhouse_url"]
