"""The learning stream on the v1 wire: strict per verb, each refusal naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ccaudit.events import LearningEvent
from ccaudit.wire import LEARNING_FIELDS, LEARNING_REQUIRED, LearningEventIn, parse_events, validate_event
from tests.learning.events import learning

VERBS = sorted(LEARNING_FIELDS)
OPTIONAL = {"progress": 40, "score": 0.5, "reason": "equivalent course elsewhere", "duration_ms": 1200.0}


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_is_accepted_with_what_it_carries(verb: str) -> None:
    event = validate_event(learning(verb))
    assert isinstance(event, LearningEventIn)
    assert event.verb == verb


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("field", sorted(OPTIONAL))
def test_a_field_a_verb_does_not_carry_is_refused_naming_it(verb: str, field: str) -> None:
    if field in LEARNING_FIELDS[verb]:
        return
    good, bad = parse_events([learning(verb, **{field: OPTIONAL[field]})])
    assert good == []
    [(index, reason)] = bad
    assert index == 0
    assert field in reason
    assert verb in reason


@pytest.mark.parametrize(("verb", "field"), [(v, f) for v, fields in LEARNING_REQUIRED.items() for f in fields])
def test_a_field_a_verb_needs_is_required(verb: str, field: str) -> None:
    event = learning(verb)
    del event[field]
    _, [(_, reason)] = parse_events([event])
    assert field in reason


@pytest.mark.parametrize(
    ("field", "value"),
    [("progress", 101), ("progress", -1), ("progress", 50.0), ("score", 1.5), ("score", -1.01), ("learner", ""),
     ("module", ""), ("verb", "launched"), ("learner", 7), ("profession", None)],
)  # fmt: skip
def test_out_of_range_or_mistyped_values_are_refused(field: str, value: Any) -> None:
    verb = {"progress": "progressed", "score": "passed"}.get(field, "completed")
    _, bad = parse_events([{**learning(verb), field: value}])
    assert bad
    assert field in bad[0][1]


def test_unknown_fields_are_refused() -> None:
    _, [(_, reason)] = parse_events([learning("completed", learner_email="a@example.org")])
    assert "learner_email" in reason


@given(
    verb=st.sampled_from(VERBS),
    progress=st.integers(0, 100),
    score=st.floats(-1, 1),
    duration=st.one_of(st.none(), st.floats(0, 86_400_000)),
)
def test_what_the_python_side_builds_is_what_the_wire_takes(
    verb: str, progress: int, score: float, duration: float | None
) -> None:
    carries = LEARNING_FIELDS[verb]
    base = learning(verb)
    event = LearningEvent(
        base["event_id"], base["event_time"], verb, "l-1", "org", "m", "", "r", "student",
        progress if "progress" in carries else None, score if "score" in carries else None,
        "why" if "reason" in carries else None, duration if "duration_ms" in carries else None, "req-1",
    )  # fmt: skip
    parsed = validate_event(event.to_wire())
    assert isinstance(parsed, LearningEventIn)
    assert (parsed.progress, parsed.score, parsed.duration_ms) == (event.progress, event.score, event.duration_ms)


def test_the_model_is_frozen() -> None:
    event = validate_event(learning("completed"))
    with pytest.raises(ValidationError):
        event.verb = "passed"  # type: ignore[misc,union-attr]
