"""Which requests are audited: compiled once from settings, matched in O(1)-ish per request.

Classification happens before the app runs (it only needs method and path); whether a candidate is
finally recorded is decided after the response, when the actor is known (``should_record``).

Default policy, from the privacy statement (§3, §4.2, §4.3):
- excluded paths (health checks) and static prefixes: never audited;
- login/logout paths, with a state-changing method: authentication events, always recorded;
- GET/HEAD on a personal-data path: a read of personal data (R6), always recorded;
- other state-changing methods: recorded when the actor is authenticated, and also for anonymous
  attempts on the admin area (a denied attempt on the admin area is itself worth auditing);
- everything else: not audited, unless app code calls ``record_audit``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from ccaudit.settings import Settings


class Kind(enum.IntEnum):
    """What a request is, for auditing."""

    NONE = 0
    EXCLUDED = 1
    STATE_CHANGE = 2
    PERSONAL_READ = 3
    LOGIN = 4
    LOGOUT = 5


_READ_METHODS = frozenset({"GET", "HEAD"})
_CACHE_SIZE = 4096


def glob_to_regex(pattern: str) -> str:
    """``*`` matches one path segment, ``**`` any number; ``{name}`` is treated like ``*``."""
    pattern = re.sub(r"\{[^/{}]*\}", "*", pattern.rstrip("/") or "/")
    out = []
    for part in re.split(r"(\*\*|\*)", pattern):
        if part == "**":
            out.append(".*")
        elif part == "*":
            out.append("[^/]+")
        else:
            out.append(re.escape(part))
    return "".join(out) + "/?"


def _patterns(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{glob_to_regex(p)})" for p in patterns)) if patterns else None


def _is_under(path: str, prefixes: tuple[str, ...]) -> bool:
    for prefix in prefixes:
        if path.startswith(prefix):
            bare = prefix.rstrip("/")
            # "/admin" covers "/admin" and "/admin/x" but not "/administrator".
            if prefix.endswith("/") or len(path) == len(bare) or path[len(bare)] == "/":
                return True
    return False


@dataclass(frozen=True, slots=True)
class AuditRules:
    """Compiled audit rules. Build with ``AuditRules.from_settings``."""

    audited_methods: frozenset[str]
    admin_prefixes: tuple[str, ...]
    excluded: frozenset[str]
    static_prefixes: tuple[str, ...]
    login_paths: frozenset[str]
    logout_paths: frozenset[str]
    personal_data: re.Pattern[str] | None
    strict: re.Pattern[str] | None = None
    fail_closed: re.Pattern[str] | None = None
    _cache: dict[tuple[str, str], tuple[Kind, bool]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> AuditRules:
        return cls(
            audited_methods=frozenset(settings.audited_methods),
            admin_prefixes=settings.admin_prefixes,
            excluded=frozenset(p.rstrip("/") or "/" for p in settings.exclude_paths),
            static_prefixes=settings.static_prefixes,
            login_paths=frozenset(p.rstrip("/") or "/" for p in settings.login_paths),
            logout_paths=frozenset(p.rstrip("/") or "/" for p in settings.logout_paths),
            personal_data=_patterns(settings.personal_data_paths),
            strict=_patterns(settings.strict_paths),
            fail_closed=_patterns(settings.fail_closed_paths),
        )

    def durability(self, path: str) -> tuple[bool, bool]:
        """(strict, fail-closed) for an audited request to ``path``."""
        return (
            self.strict is not None and self.strict.fullmatch(path) is not None,
            self.fail_closed is not None and self.fail_closed.fullmatch(path) is not None,
        )

    def classify(self, method: str, path: str) -> tuple[Kind, bool]:
        """Return (kind, is the path in the admin area). Memoised: it is a pure function."""
        key = (method, path)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._classify(method, path)
            if len(self._cache) >= _CACHE_SIZE:
                # Paths with ids are unbounded; a full cache starts over rather than tracking recency.
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def _classify(self, method: str, path: str) -> tuple[Kind, bool]:
        bare = path.rstrip("/") or "/"
        if bare in self.excluded or _is_under(path, self.static_prefixes):
            return Kind.EXCLUDED, False
        admin = _is_under(path, self.admin_prefixes)
        if method in self.audited_methods:
            if bare in self.login_paths:
                return Kind.LOGIN, admin
            if bare in self.logout_paths:
                return Kind.LOGOUT, admin
            return Kind.STATE_CHANGE, admin
        if method in _READ_METHODS and self.personal_data is not None and self.personal_data.fullmatch(path):
            return Kind.PERSONAL_READ, admin
        return Kind.NONE, admin


def should_record(kind: Kind, admin: bool, authenticated: bool) -> bool:
    """Whether a request of ``kind`` is recorded without an explicit ``record_audit`` call."""
    if kind is Kind.STATE_CHANGE:
        return authenticated or admin
    return kind in (Kind.LOGIN, Kind.LOGOUT, Kind.PERSONAL_READ)
