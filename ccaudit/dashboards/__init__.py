"""Dashboards (issue 15): definitions over the rollups, read through one query layer by the console,
the API, the CSV downloads and the Grafana generator, with small cells suppressed alike."""

from ccaudit.dashboards.model import SUPPRESSED, Cell, Column, Dashboard, Panel, Range, Suppressed, Table
from ccaudit.dashboards.query import NotVisible, dashboard_tables, panel_table
from ccaudit.dashboards.registry import DASHBOARDS, DefinitionError, visible

__all__ = [
    "DASHBOARDS", "SUPPRESSED", "Cell", "Column", "Dashboard", "DefinitionError", "NotVisible", "Panel", "Range",
    "Suppressed", "Table", "dashboard_tables", "panel_table", "visible",
]  # fmt: skip
