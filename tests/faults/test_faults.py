"""Fault scenarios through real processes (the same ones ``make faults`` runs): every audit event the
platform acknowledged and the spool accepted is stored exactly once, whatever failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.scenarios import SCENARIOS

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_accepted_audit_event_is_stored_exactly_once(name: str, tmp_path: Path) -> None:
    outcome = SCENARIOS[name](tmp_path)
    print(outcome.line())
    assert outcome.sent > 0, outcome.line()
    assert (outcome.lost, outcome.duplicates) == (0, 0), outcome.line()
    assert outcome.stored == outcome.sent, outcome.line()
