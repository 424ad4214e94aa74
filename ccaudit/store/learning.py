"""Writing learning events and reading the engine-kept learning state. Every value is a bound parameter.

The state (``learning_state``, migration 0012) is kept by a materialized view at insert time; its
parts merge in the background, so a read merges what is not merged yet (``GROUP BY`` with the
``-Merge`` and simple aggregates): the answer is the same before and after the engine's merges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from clickhouse_connect.driver.client import Client

from ccaudit.store.client import insert_columns, query_rows

COLUMNS = (
    "event_id", "event_time", "received_at", "platform", "verb", "learner", "organisation", "module", "lesson",
    "registration", "profession", "progress", "score", "reason", "duration_ms", "request_id", "retention_days",
    "payload_sha256",
)  # fmt: skip

_NO_EVENT = UUID(int=0)


def insert_learning(client: Client, database: str, columns: Sequence[Sequence[Any]]) -> None:
    """Insert column-oriented data, one sequence per name in COLUMNS."""
    insert_columns(client, database, "learning_events", columns, COLUMNS)


@dataclass(frozen=True, slots=True)
class LessonState:
    """One learner's state in one lesson of a module (``lesson`` '' = the module itself)."""

    module: str
    lesson: str
    first_seen: datetime
    last_seen: datetime
    best_progress: int
    first_registered: datetime | None
    first_started: datetime | None
    first_completed: datetime | None
    first_passed: datetime | None
    first_waived: datetime | None
    best_score: float | None
    failed: bool
    completed_event: str | None
    passed_event: str | None
    waived_event: str | None
    score_event: str | None
    profession: str
    organisation: str


# The merged state, as one SELECT list; shared by the lookup and by the benchmark's comparison.
PROGRESS_SELECT = (
    "module, lesson, min(first_seen), max(last_seen), max(best_progress), "
    "min(first_registered), min(first_started), min(first_completed), min(first_passed), min(first_waived), "
    "max(best_score), max(failed), argMinIfMerge(completed_event), argMinIfMerge(passed_event), "
    "argMinIfMerge(waived_event), argMaxIfMerge(score_event)"
)
STATE_SELECT = f"{PROGRESS_SELECT}, argMaxMerge(profession), argMaxMerge(organisation)"


def _utc(value: Any) -> datetime | None:
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) else None


def _event(value: Any, present: object) -> str | None:
    return str(value) if present is not None and value is not None and value != _NO_EVENT else None


def state_of(row: Sequence[Any]) -> LessonState:
    """A LessonState from a row of ``STATE_SELECT`` (or of ``PROGRESS_SELECT``: no profession and
    organisation)."""
    (module, lesson, first, last, progress, registered, started, completed, passed, waived, score,
     failed, completed_id, passed_id, waived_id, score_id, profession, organisation) = (*row, "", "")[:18]  # fmt: skip
    return LessonState(
        str(module), str(lesson), _utc(first) or datetime.min.replace(tzinfo=UTC), _utc(last) or datetime.min.replace(
            tzinfo=UTC), int(progress), _utc(registered), _utc(started), _utc(completed), _utc(passed),
        _utc(waived), None if score is None else float(score), bool(failed), _event(completed_id, completed),
        _event(passed_id, passed), _event(waived_id, waived), _event(score_id, score), str(profession),
        str(organisation),
    )  # fmt: skip


def learner_state(
    client: Client, database: str, platform: str, learner: str, *, profile: bool = True
) -> list[LessonState]:
    """Every module and lesson state of one learner on one platform. With ``profile`` False, the
    progress only: profession and organisation are left empty (``learner_profile`` has the learner's
    latest), and the read skips their two aggregate states, a sixth of its time."""
    rows = query_rows(
        client,
        f"SELECT {STATE_SELECT if profile else PROGRESS_SELECT} FROM {database}.learning_state "
        "WHERE platform = {platform:String} AND learner = {learner:String} "
        "GROUP BY module, lesson ORDER BY module, lesson",
        {"platform": platform, "learner": learner},
    )
    return [state_of(row) for row in rows]


@dataclass(frozen=True, slots=True)
class Profile:
    """A learner's latest organisation and profession (``learning_learners``, migration 0044): those
    of their event with the greatest (event time, event id), or a later correction. Empty when the
    learner has no learning state."""

    organisation: str
    profession: str


# The learner's latest organisation and profession (merging parts not merged yet: the max of each
# tuple), as one tuple, so that it can also be a column of another query.
PROFILE_SELECT = (
    "SELECT (max(organisation).3, max(profession).3) FROM {db}.learning_learners "
    "WHERE platform = {{platform:String}} AND learner = {{learner:String}}"
)


def learner_profile(client: Client, database: str, platform: str, learner: str) -> Profile:
    """The learner's Profile on one platform."""
    rows = query_rows(client, PROFILE_SELECT.format(db=database), {"platform": platform, "learner": learner})
    return Profile(*(str(v) for v in rows[0][0])) if rows else Profile("", "")
