"""What subject rights need to know of each table, read from the table list and the engine.

Every operation (export, erasure, restriction, retention) is generic over
``ccaudit.store.tables.PERSONAL_DATA_TABLES``: a table declared there, with its subject columns, is
covered. The engine says each column's type (a Map's values, an Array's elements and plain strings
are matched differently), which columns are in the sorting key (they cannot be rewritten in place),
and whether reads need FINAL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from ccaudit.register import ProcessingRegister
from ccaudit.store import tables as declared
from ccaudit.store.client import query_rows
from ccaudit.store.tables import TableInfo


@dataclass(frozen=True, slots=True)
class Described:
    """A declared table as the engine has it."""

    info: TableInfo
    columns: dict[str, str]  # name → type
    key_columns: frozenset[str]
    final: bool

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def has_platform(self) -> bool:
        return "platform" in self.columns

    def kind(self, column: str) -> str:
        """How ``column`` holds identifiers: 'map' (values), 'array' (elements), 'text' (quoted
        inside), or 'value' (the whole string)."""
        if column in self.info.text_columns:
            return "text"
        kind = self.columns[column]
        if kind.startswith("Map("):
            return "map"
        if kind.startswith("Array("):
            return "array"
        return "value"


def describe(client: Client, database: str, tables: tuple[TableInfo, ...] | None = None) -> list[Described]:
    """The declared tables (``PERSONAL_DATA_TABLES``, read at each call) that exist in ``database``
    (a table of a later migration may not yet)."""
    if tables is None:
        tables = declared.PERSONAL_DATA_TABLES
    names = [t.name for t in tables]
    info = {
        str(r[0]): (str(r[1]), str(r[2]))
        for r in query_rows(
            client,
            "SELECT name, engine, sorting_key FROM system.tables WHERE database = {db:String} "
            "AND name IN {names:Array(String)}",
            {"db": database, "names": names},
        )
    }
    columns: dict[str, dict[str, str]] = {}
    for table, column, kind in query_rows(
        client,
        "SELECT table, name, type FROM system.columns WHERE database = {db:String} AND table IN {names:Array(String)} "
        "ORDER BY table, position",
        {"db": database, "names": names},
    ):
        columns.setdefault(str(table), {})[str(column)] = str(kind)
    found = []
    for table in tables:
        if table.name not in info:
            continue
        engine, sorting_key = info[table.name]
        keys = frozenset(part.strip() for part in sorting_key.split(","))
        final = any(word in engine for word in ("Replacing", "Aggregating", "Collapsing"))
        found.append(Described(table, columns[table.name], keys, final))
    return found


def purposes_of(table: TableInfo, register: ProcessingRegister, platform: str) -> tuple[str, ...]:
    """The purposes a table's rows serve: the register's for its stream, else the table's own."""
    declaration = register.declaration(platform, table.stream)
    return tuple(declaration.purposes) if declaration is not None else table.purposes


def on_erase(table: TableInfo, register: ProcessingRegister, platform: str) -> str:
    """'delete' or 'pseudonymise': the register's word for the table's stream, else the table's."""
    if table.erase_by_delete:
        return "delete"
    declaration = register.declaration(platform, table.stream)
    return declaration.on_erase if declaration is not None else table.on_erase


def located(table: Described, database: str, ids: str, personal: Sequence[str] = ()) -> str:
    """``matches`` for a read, narrowed by the table's locator where it has one (a range of its
    sorting key rather than every row). Identifiers looked for in the details' ``personal`` keys
    are filed nowhere: then every row is read."""
    where = matches(table, ids, personal=personal)
    if table.info.locator and not personal:
        where += " AND " + table.info.locator.replace("{db}", database).replace("{ids}", ids)
    return where


def matches(table: Described, ids: str, id_set: str | None = None, personal: Sequence[str] = ()) -> str:
    """SQL true for a row of ``table`` naming any identifier of the array expression ``ids``; whole
    values are looked up in ``id_set`` (a subquery: a hash set in the engine) when given. In an
    identifying Map column (the details), the values of the ``personal`` keys (the register's
    ``personal_details``, checked against a strict pattern there) are matched."""
    parts = []
    for column in table.info.subject_columns:
        kind = table.kind(column)
        if kind == "map":
            parts.append(f"hasAny(mapValues({column}), {ids})")
        elif kind == "array":
            parts.append(f"hasAny({column}, {ids})")
        elif kind == "text":
            # JSON text: an identifier is a whole string value, between quotes.
            parts.append(f"hasAny(splitByChar('\"', {column}), {ids})")
        else:
            # The column as it is where it is a string, so that its skip index (bloom filter) applies.
            value = column if "String" in table.columns[column] else f"toString({column})"
            found = f"{value} IN {id_set if id_set is not None else ids}"
            condition = table.info.condition(column)
            parts.append(f"({condition} AND {found})" if condition else found)
    for column in table.info.identifying_columns:
        if table.kind(column) != "map":
            continue
        for key in personal:
            # An identifier the register declares personal (an e-mail address) in the details.
            value = f"{column}['{key}']"
            parts.append(f"{value} IN {id_set}" if id_set is not None else f"has({ids}, {value})")
    return "(" + " OR ".join(parts) + ")"
