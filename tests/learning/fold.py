"""A learner's state by a plain fold over wire events: what the engine's view must agree with, and
the facts the evaluator's property tests run over without an engine."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ccaudit.store.learning import LessonState


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def fold(events: list[dict[str, Any]]) -> list[LessonState]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in {e["event_id"]: e for e in events}.values():
        groups.setdefault((e["module"], e["lesson"]), []).append(e)
    out = []
    for (module, lesson), group in sorted(groups.items()):

        def first(verb: str, group: list[dict[str, Any]] = group) -> tuple[datetime | None, str | None]:
            hits = sorted((e["event_time"], e["event_id"]) for e in group if e["verb"] == verb)
            return (_at(hits[0][0]), hits[0][1]) if hits else (None, None)

        scored = sorted((e["score"], e["event_id"]) for e in group if "score" in e)
        latest = max(group, key=lambda e: (e["event_time"], e["event_id"]))
        progress = [100 if e["verb"] in ("completed", "passed") else e.get("progress", 0) for e in group]
        started = [e["event_time"] for e in group if e["verb"] not in ("registered", "satisfied", "waived")]
        (completed, completed_id), (passed, passed_id), (waived, waived_id) = (
            first("completed"), first("passed"), first("waived"))  # fmt: skip
        out.append(LessonState(
            module, lesson, _at(min(e["event_time"] for e in group)), _at(max(e["event_time"] for e in group)),
            max(progress), first("registered")[0], _at(min(started)) if started else None, completed,
            passed, waived, scored[-1][0] if scored else None, any(e["verb"] == "failed" for e in group),
            completed_id, passed_id, waived_id, scored[-1][1] if scored else None, latest["profession"],
            latest["organisation"],
        ))  # fmt: skip
    return out
