"""A module's statistics as a dashboard table: the learning dashboard's detail, from
``ccaudit.learning.stats.module_statistics`` and its ``suppress`` (counted from the learning state,
never from an account id in a rollup), held to the principal's organisations.

stats.py suppresses by its own rule (k = 5, per group: a group of fewer than five learners shows
"<5" for every count; a rate from fewer than five is left out), which this keeps: its "<5" becomes
SUPPRESSED here, and so does a rate it left out for a small group or a small number completed.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from ccaudit.access.principal import Principal
from ccaudit.dashboards.model import SUPPRESSED, Cell, Column, Range, Table
from ccaudit.dashboards.query import NotVisible
from ccaudit.dashboards.registry import DASHBOARDS, may_see
from ccaudit.learning.catalogue import Catalogue
from ccaudit.learning.stats import SMALL, GroupBy, K, StatsQuery, module_statistics
from ccaudit.store import Store


def _t(nl: str, fr: str, en: str) -> dict[str, str]:
    return {"nl": nl, "fr": fr, "en": en}


COLUMNS = (
    Column("group", _t("Groep", "Groupe", "Group"), "dimension"),
    Column("learners", _t("Lerenden", "Apprenants", "Learners"), "visitors"),
    Column("enrolled", _t("Ingeschreven", "Inscrits", "Enrolled"), "visitors"),
    Column("started", _t("Begonnen", "Commencé", "Started"), "visitors"),
    Column("completed", _t("Voltooid", "Terminé", "Completed"), "visitors"),
    Column("completion_rate", _t("Voltooiingsgraad", "Taux d'achèvement", "Completion rate"), "ratio"),
    Column("median_seconds_to_complete", _t("Mediane duur (s)", "Durée médiane (s)", "Median time (s)"), "ratio"),
    Column("average_best_score", _t("Gemiddelde beste score", "Meilleur score moyen", "Average best score"), "ratio"),
)


def module_table(
    store: Store,
    catalogue: Catalogue,
    principal: Principal,
    platform: str,
    module: str,
    range: Range,
    by: GroupBy | None = "organisation",
) -> Table:
    """``module``'s statistics over learners whose first step in it lies in ``range``, grouped ``by``,
    as ``principal`` may see them. Raises NotVisible, or KeyError for a module not in the catalogue."""
    if not may_see(principal, DASHBOARDS["learning"]):
        raise NotVisible("learning")
    query = StatsQuery(
        platform,
        module,
        by,
        since=datetime.combine(range.start, time(), UTC),
        until=datetime.combine(range.end + timedelta(days=1), time(), UTC),
        scope_organisations=principal.organisations,
    )
    groups = module_statistics(store, catalogue, query)["groups"]
    if range.organisation is not None and by == "organisation":
        groups = [g for g in groups if g["group"] == range.organisation]
    rows: list[tuple[Cell, ...]] = []
    hidden = 0
    for group in groups:
        cells: list[Cell] = [group["group"]]
        for column in COLUMNS[1:]:
            value = group[column.key]
            # A rate stats.py left out because it came from fewer than k learners is suppressed; one
            # left out because there is nothing to measure (no one completed) stays empty.
            small = SMALL in (group["learners"], group["completed"])
            if value == SMALL or (value is None and column.kind == "ratio" and small):
                cells.append(SUPPRESSED)
            else:
                cells.append(value)
        hidden += any(c is SUPPRESSED for c in cells)
        rows.append(tuple(cells))
    return Table(COLUMNS, tuple(rows), K, hidden)
