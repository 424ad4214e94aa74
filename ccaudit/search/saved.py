"""Saved searches: per account, a name and the query string of an audit search.

A saved search is only the question, never the answer: running it is an ordinary search as the
account, within its organisation bounds, recorded in the access stream like any other. The query is
checked with :func:`ccaudit.search.parse_filters` when it is saved, so a saved search always runs.
Rows of ``<db>.saved_searches`` (migration 0010); an account sees and deletes its own only.
"""

from __future__ import annotations

import time
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

from ccaudit.search.filters import FILTER_PARAMETERS, parse_filters
from ccaudit.service.params import BadParameter
from ccaudit.store import Store
from ccaudit.store.client import insert_rows, query_rows

MAX_NAME = 100
MAX_QUERY = 4096
# Saved searches one account may keep: a list to choose from, not a store of data.
MAX_PER_ACCOUNT = 200
_COLUMNS = ("account_id", "search_id", "name", "query", "created_at", "version", "deleted")


@dataclass(frozen=True, slots=True)
class SavedSearch:
    search_id: str
    name: str
    query: str  # a query string of /console/search, e.g. "q=actor%3Aanna&outcome=denied"
    created_at: datetime


def normal_query(query: str) -> str:
    """``query`` as it is stored: its filters (a cursor or a blank field left out), checked, re-encoded.
    BadParameter for a bad filter, or ``query`` itself when it cannot be a search's query string."""
    if len(query) > MAX_QUERY:
        raise BadParameter("query", f"longer than {MAX_QUERY} characters")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query), max_num_fields=64)
    except ValueError:
        raise BadParameter("query", "not the query string of a search") from None
    kept = {name: value for name, value in pairs if name in FILTER_PARAMETERS and value != ""}
    if len(dict(pairs)) != len(pairs) or any(name not in (*FILTER_PARAMETERS, "cursor") for name, _ in pairs):
        raise BadParameter("query", "not the query string of a search")
    parse_filters(kept)  # raises BadParameter (or BadQualifier) naming the bad filter
    return urlencode(kept)


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise BadParameter("name", "a name is needed")
    if len(name) > MAX_NAME:
        raise BadParameter("name", f"longer than {MAX_NAME} characters")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        raise BadParameter("name", "control characters are not allowed")
    return name


class SavedSearches:
    """An account's saved searches, in the store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self, account_id: str) -> list[SavedSearch]:
        """The account's saved searches, by name."""
        sql = (
            f"SELECT search_id, name, query, created_at FROM {self._store.database}.saved_searches FINAL "
            "WHERE account_id = {account:String} ORDER BY lower(name), created_at LIMIT {most:UInt32}"
        )
        rows = query_rows(self._store.client, sql, {"account": account_id, "most": MAX_PER_ACCOUNT})
        return [SavedSearch(str(i), str(n), str(q), c.replace(tzinfo=UTC)) for i, n, q, c in rows]

    def create(self, account_id: str, name: str, query: str) -> SavedSearch:
        """Save a search; BadParameter naming ``name`` or ``query`` (or the bad filter) otherwise."""
        saved = SavedSearch(uuid.uuid4().hex, check_name(name), normal_query(query), datetime.now(UTC))
        if len(self.list(account_id)) >= MAX_PER_ACCOUNT:
            raise BadParameter("name", f"at most {MAX_PER_ACCOUNT} saved searches; delete one first")
        self._write(account_id, saved, deleted=False)
        return saved

    def delete(self, account_id: str, search_id: str) -> SavedSearch | None:
        """Delete one of the account's saved searches; None if it has no such search."""
        found = next((s for s in self.list(account_id) if s.search_id == search_id), None)
        if found is not None:
            # The new version blanks what the search said: after a merge it is gone from the disk too.
            self._write(account_id, SavedSearch(found.search_id, "", "", found.created_at), deleted=True)
        return found

    def _write(self, account_id: str, saved: SavedSearch, deleted: bool) -> None:
        row = [account_id, saved.search_id, saved.name, saved.query, saved.created_at, time.time_ns(), int(deleted)]
        insert_rows(self._store.client, self._store.database, "saved_searches", [row], _COLUMNS)
