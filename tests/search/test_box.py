"""The search box as a parser: any text gives Filters or a BadParameter for ``q`` that names the
qualifier (or the box's own limit); never another exception."""

# fixed dates: parser inputs and their parsed values; no clock, no TTL reads them.

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ccaudit.search import BadParameter, BadQualifier, Filters, parse_box
from ccaudit.search.box import ALIASES

pieces = st.one_of(
    st.text(max_size=30),
    st.builds(
        lambda n, v: f"{n}:{v}", st.sampled_from([*sorted(ALIASES), "colour", "IP", "x_y"]), st.text(max_size=30)
    ),
    st.sampled_from(['"', "created:>=", "created:..", "ip:10.0.0.0/8", "action:*", "status:200", ":", " ", "\x00"]),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(pieces, max_size=8).map(" ".join))
@example('actor:anna "unclosed')
@example("created:2026-02-30")
@example("ip:" + "1" * 5000)
def test_any_text_parses_or_names_its_bad_qualifier(text: str) -> None:
    outcome: Filters | BadParameter
    try:
        outcome = parse_box(text)
    except BadParameter as exc:
        outcome = exc
    if isinstance(outcome, BadQualifier):
        assert text[outcome.position :].startswith(outcome.qualifier)
        assert str(outcome).startswith(f"q: at character {outcome.position + 1}, ")
    if isinstance(outcome, BadParameter):
        assert outcome.name == "q"
    else:
        assert isinstance(outcome, Filters)


def test_qualifiers_become_bound_filters() -> None:
    filters = parse_box('actor:anna action:person.* ip:10.0.0.0/8 created:>=2026-11-01 "free text" word')
    assert filters.actor == "anna"
    assert filters.action_prefix == "person."
    assert filters.cidr == "10.0.0.0/8"
    assert filters.since is not None
    assert filters.since.isoformat() == "2026-11-01T00:00:00+00:00"  # fixed date: the parsed form of the box's input
    assert filters.text == ("free text", "word")
    assert parse_box("ip:10.1.2.3/8").cidr == "10.0.0.0/8"
    assert parse_box("ip:2001:DB8::1").ip == "2001:db8::1"
    day = parse_box("created:2026-11-01")
    assert (day.since, day.until) == (parse_box("created:>=2026-11-01").since, parse_box("created:<2026-11-02").until)
