"""Every exception ccaudit raises, in one hierarchy.

CcauditError
├── ConfigurationError      a setting is missing or wrong; names the key
├── StoreError              the ClickHouse store failed
│   ├── StoreUnavailable    it cannot be reached (retry later)
│   ├── MigrationError      the migrations on disk and in the store disagree
│   └── AccessNotRecorded   a read of the audit trail is refused: its access record was not stored
└── IngestError             a batch was refused; carries per-event reasons
    ├── OtherPlatform       it names another platform than its credentials
    └── RewriteRefused      it would change stored events (409): an id stored with other content
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class CcauditError(Exception):
    """Base class of all ccaudit errors."""


class ConfigurationError(CcauditError):
    """A setting is missing or invalid. The message starts with the setting's environment key."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class StoreError(CcauditError):
    """The ClickHouse store answered with an error."""


class StoreUnavailable(StoreError):
    """The ClickHouse store could not be reached; the operation may succeed later."""


class MigrationError(StoreError):
    """Applied migrations and the files on disk disagree, or a migration failed."""


class AccessNotRecorded(StoreError):
    """The access record of a read could not be stored, so the read is refused (R6): nothing is shown."""


class IngestError(CcauditError):
    """A batch was refused. ``problems`` lists ``(event index or None, reason)``."""

    def __init__(self, problems: list[tuple[int | None, str]]) -> None:
        self.problems = problems
        shown = "; ".join(f"event {i}: {r}" if i is not None else r for i, r in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"batch refused: {shown}{more}")

    def problems_with_index(self) -> list[tuple[int, str]]:
        """The problems that name an event."""
        return [(i, r) for i, r in self.problems if i is not None]


class OtherPlatform(IngestError):
    """A batch names another platform than the caller's credentials: ``named`` is the one it names."""

    def __init__(self, named: object) -> None:
        self.named = named
        super().__init__([(None, f"platform {named!r} does not match the credentials")])


class RewriteRefused(IngestError):
    """A batch holds event ids already stored with another payload or by another platform: an
    audit trail is append-only, so the batch is refused (and the attempt recorded). ``conflicts``
    says, per refused event, what is stored under its id."""

    def __init__(self, problems: list[tuple[int | None, str]], conflicts: Sequence[Any] = ()) -> None:
        super().__init__(problems)
        self.conflicts = tuple(conflicts)
