"""The dashboards, loaded once from ``definitions/*.toml`` (shipped in the package) and checked there.

A definition is data, not code, so that the console, the API and the Grafana generator read the same
thing. Loading checks every one and a bad definition fails at import with its file and key: an
unknown role or chart, a title without nl/fr/en, a panel reading a table that is not a rollup, a macro
or variable the expander does not know, columns that do not match what the SQL selects.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, get_args

from ccaudit.access.principal import Principal
from ccaudit.access.roles import Permission, Role
from ccaudit.dashboards.model import LANGUAGES, Chart, Column, Dashboard, Kind, Panel, Scope
from ccaudit.dashboards.sql import check_sql

DEFINITIONS = Path(__file__).resolve().parent / "definitions"
ORDER = ("overview", "pages", "sources", "devices", "countries", "admin", "consent", "learning", "now")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


class DefinitionError(ValueError):
    """A dashboard definition that cannot be used; the message names its file and key."""


def _title(where: str, value: Any) -> Mapping[str, str]:
    if (
        not isinstance(value, dict)
        or set(value) != set(LANGUAGES)
        or not all(isinstance(v, str) and v for v in value.values())
    ):
        raise DefinitionError(f"{where}: title needs exactly {', '.join(LANGUAGES)}, each a non-empty text")
    return MappingProxyType(dict(value))


def _key(where: str, value: Any) -> str:
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise DefinitionError(f"{where}: key must be lower-case letters, digits and _ (got {value!r})")
    return value


def _column(where: str, raw: Any) -> Column:
    if not isinstance(raw, dict):
        raise DefinitionError(f"{where}: a column is a table")
    key = _key(where, raw.get("key"))
    where = f"{where}.{key}"
    if raw.get("kind") not in get_args(Kind):
        raise DefinitionError(f"{where}: kind must be one of {', '.join(get_args(Kind))}")
    return Column(key, _title(where, raw.get("title")), raw["kind"])


def _panel(where: str, raw: Any) -> Panel:
    if not isinstance(raw, dict):
        raise DefinitionError(f"{where}: a panel is a table")
    key = _key(where, raw.get("key"))
    where = f"{where}.panels.{key}"
    if raw.get("chart") not in get_args(Chart):
        raise DefinitionError(f"{where}: chart must be one of {', '.join(get_args(Chart))}")
    columns = tuple(_column(f"{where}.columns", c) for c in raw.get("columns", ()))
    if not columns or len({c.key for c in columns}) != len(columns):
        raise DefinitionError(f"{where}: columns must be given, each key once")
    sql = raw.get("sql")
    if not isinstance(sql, str):
        raise DefinitionError(f"{where}: sql is required")
    try:
        check_sql(sql)
    except ValueError as exc:
        raise DefinitionError(f"{where}.sql: {exc}") from None
    return Panel(key, _title(where, raw.get("title")), raw["chart"], sql.strip(), columns)


def load(path: Path) -> tuple[int, Dashboard]:
    """One definition file: its place in the order and the dashboard. Raises DefinitionError."""
    where = path.name
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"{where}: {exc}") from None
    key = _key(where, raw.get("key"))
    where = f"{where}: {key}"
    if raw.get("scope") not in get_args(Scope):
        raise DefinitionError(f"{where}: scope must be one of {', '.join(get_args(Scope))}")
    try:
        roles = frozenset(Role(r) for r in raw.get("roles", ()))
        permission = Permission(raw.get("permission", Permission.USAGE_READ.value))
    except ValueError as exc:
        raise DefinitionError(f"{where}: {exc}") from None
    if not roles:
        raise DefinitionError(f"{where}: roles must name at least one role")
    window = raw.get("window_minutes")
    if window is not None and (not isinstance(window, int) or not 1 <= window <= 1440):
        raise DefinitionError(f"{where}: window_minutes must be an integer from 1 to 1440")
    panels = tuple(_panel(where, p) for p in raw.get("panels", ()))
    if not panels or len({p.key for p in panels}) != len(panels):
        raise DefinitionError(f"{where}: panels must be given, each key once")
    order = raw.get("order")
    if not isinstance(order, int):
        raise DefinitionError(f"{where}: order must be an integer")
    title = _title(where, raw.get("title"))
    return order, Dashboard(key, title, raw["scope"], roles, panels, permission, window)


def load_all(folder: Path = DEFINITIONS) -> Mapping[str, Dashboard]:
    """Every definition in ``folder``, in their order."""
    loaded = sorted(load(path) for path in sorted(folder.glob("*.toml")))
    dashboards = {d.key: d for _, d in loaded}
    if len(dashboards) != len(loaded):
        raise DefinitionError(f"{folder}: two definitions share a key")
    return MappingProxyType(dashboards)


DASHBOARDS: Mapping[str, Dashboard] = load_all()
if tuple(DASHBOARDS) != ORDER:  # the console's menu and the Grafana folder follow this order
    raise DefinitionError(f"definitions: expected {', '.join(ORDER)}, found {', '.join(DASHBOARDS)}")


def may_see(principal: Principal, dashboard: Dashboard) -> bool:
    """A principal sees a dashboard when its role is one the dashboard names and it holds the
    dashboard's permission (a personal token's scopes narrow what its account's role holds)."""
    return principal.role in dashboard.roles and principal.may(dashboard.permission)


def visible(principal: Principal) -> list[Dashboard]:
    """The dashboards ``principal`` may open, in the menu's order."""
    return [d for d in DASHBOARDS.values() if may_see(principal, d)]
