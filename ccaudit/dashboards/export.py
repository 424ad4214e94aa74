"""A panel's table as CSV: the console's download and the API's ``.csv`` give the same bytes.

A header row of column keys, then one line per row; a suppressed figure reads "<k" as on the page.
A text cell a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``, a tab or a carriage
return first) gets a ``'`` in front, as the audit export does: pages and referrers come from visitors.
"""

from __future__ import annotations

import csv
import io

from ccaudit.dashboards.model import Table

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def table_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([c.key for c in table.columns])
    for row in table.rows:
        cells = []
        for cell in row:
            value = table.text(cell)
            if isinstance(value, str) and value.startswith(_FORMULA) and not value.startswith("<"):
                value = "'" + value
            cells.append("" if value is None else value)
        writer.writerow(cells)
    return buffer.getvalue()
