"""Fixtures of the seal tests: a store with events ingested through the real pipeline, and a sealer
with its key and folder in a temporary directory. Ingest stamps rows with the real time, so the
sealer runs on the real clock and the tests close a period by sealing "as at shutdown"."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ccaudit.ingest import Ingestor
from ccaudit.seal import keys
from ccaudit.seal.sealer import Sealer
from ccaudit.seal.store import SealStore
from ccaudit.seal.verify import Report, load_public_keys, verify_store
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.consent.test_receipts import consent_wire
from tests.ingest.test_pipeline import batch, wire

PERIOD_S = 300.0


@dataclass
class World:
    store: Store
    seals: SealStore
    sealer: Sealer
    ingestor: Ingestor
    folder: Path
    key_file: Path
    ids: list[str] = field(default_factory=list)

    def ingest_audit(self, n: int, platform: str = "coop") -> list[str]:
        start = len(self.ids)
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

    def seal(self) -> int:
        """Seal everything received until now, as at shutdown: each call closes one period."""
        time.sleep(0.002)  # rows stamped in this very millisecond belong to the next period
        return self.sealer.seal_due(final=True)

    def verify(self, **options: Any) -> Report:
        public = load_public_keys(keys.public_keys_file(self.key_file))
        return verify_store(self.seals, self.folder, public, now_ms=int(time.time() * 1000), **options)


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    seals = SealStore(store.client, store.database)
    key_file = tmp_path / "keys" / "ed25519.pem"
    keys.ensure(key_file)
    folder = tmp_path / "seals"
    sealer = Sealer(seals, period_s=PERIOD_S, settle_s=0.0, folder=folder, key_file=key_file,
                    platforms=lambda: ["coop"])  # fmt: skip
    return World(store, seals, sealer, Ingestor(Settings(), store), folder, key_file)
