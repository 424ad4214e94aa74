"""The list of tables holding personal data names the tables that really hold it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ccaudit.shipping.spool import Spool
from ccaudit.store.tables import LOCAL_PERSONAL_DATA


def test_the_spools_personal_data_tables_exist_with_their_subject_columns(tmp_path: Path) -> None:
    path = tmp_path / "spool-coop.sqlite3"
    Spool(path).put(['{"stream": "audit"}'])
    with sqlite3.connect(path) as db:
        for table in LOCAL_PERSONAL_DATA:
            columns = {row[1] for row in db.execute("SELECT * FROM pragma_table_info(?)", (table.name,))}
            assert columns, f"the spool has no table {table.name!r}"
            assert set(table.subject_columns) <= columns, table.name
