"""Fixtures of the seal tests: a store with events ingested through the real pipeline, a sealer with
its key and folder in a temporary directory, and a clock the tests move."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ccaudit.ingest import Ingestor
from ccaudit.seal import keys
from ccaudit.seal.sealer import Sealer
from ccaudit.seal.store import SealStore
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.consent.test_receipts import consent_wire
from tests.ingest.test_pipeline import batch, wire

PERIOD_S = 300.0


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    store: Store
    seals: SealStore
    sealer: Sealer
    clock: Clock
    ingestor: Ingestor
    folder: Path
    key_file: Path
    ids: list[str] = field(default_factory=list)

    def ingest_audit(self, n: int, start: int = 0, platform: str = "coop") -> list[str]:
        events = [wire(start + i, details={"field": "name", "i": str(i)}, subject_id=f"subj-{i % 4}") for i in range(n)]
        self.ingestor.ingest(batch(events, platform=platform))
        ids = [str(e["event_id"]) for e in events]
        self.ids.extend(ids)
        return ids

    def ingest_consent(self, n: int) -> list[str]:
        events = [consent_wire(str(uuid.uuid4()), i) for i in range(n)]
        self.ingestor.ingest(batch(events))
        return [str(e["event_id"]) for e in events]

    def sql(self, statement: str, parameters: dict[str, Any] | None = None) -> Any:
        """A statement run on the engine behind ccaudit's back."""
        return self.store.client.command(statement, parameters=parameters)

    def next_period(self) -> None:
        """Move the clock past the current period and its settle delay, and seal."""
        self.clock.now += PERIOD_S
        self.sealer.seal_due()


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    import time

    seals = SealStore(store.client, store.database)
    key_file = tmp_path / "keys" / "ed25519.pem"
    keys.ensure(key_file)
    # The engine stamps received_at with the real time: the clock starts there.
    clock = Clock(time.time())
    folder = tmp_path / "seals"
    sealer = Sealer(seals, period_s=PERIOD_S, settle_s=0.0, folder=folder, key_file=key_file,
                    platforms=lambda: ["coop"], clock=clock)  # fmt: skip
    return World(store, seals, sealer, clock, Ingestor(Settings(), store), folder, key_file)
