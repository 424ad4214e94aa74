"""Learning events for the tests: wire dicts with sensible defaults."""

from __future__ import annotations

from typing import Any

from ccaudit.ids import new_id
from tests.conftest import days_ago_ms

# Two days ago, on whole seconds: inside the learning stream's retention on any date.
T0 = days_ago_ms(2)


def learning(verb: str, n: int = 0, **fields: Any) -> dict[str, Any]:
    """A learning event on the wire, ``n`` seconds after T0 (its id made for that time)."""
    at = T0 + n * 1000
    event: dict[str, Any] = {
        "stream": "learning", "event_id": new_id(at), "event_time": at, "verb": verb, "learner": "learner-1",
        "organisation": "org-a", "module": "m1", "lesson": "l1", "registration": "reg-1", "profession": "teacher",
    }  # fmt: skip
    if verb == "progressed":
        event["progress"] = 50
    if verb in ("passed", "failed"):
        event["score"] = 0.8 if verb == "passed" else 0.2
    if verb == "waived":
        event["reason"] = "tested out"
    event.update(fields)
    return event
