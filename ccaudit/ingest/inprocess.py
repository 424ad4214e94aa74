"""In-process shipping for a single-process app that owns the store itself (no service)."""

from __future__ import annotations

from ccaudit.errors import IngestError
from ccaudit.ingest.pipeline import Ingestor
from ccaudit.settings import Settings
from ccaudit.shipping.transport import CallableTransport, DeliveryError
from ccaudit.store import Store


def inprocess_transport(settings: Settings, store: Store | None = None) -> CallableTransport:
    """A transport that ingests batches directly into the store (migrated on first use)."""
    store = store or Store.open(settings)
    store.migrate()
    ingestor = Ingestor(settings, store)

    def deliver(payload: bytes) -> None:
        try:
            ingestor.ingest_json(payload)
        except IngestError as exc:
            raise DeliveryError(str(exc), retryable=False, problems=exc.problems_with_index(), status=400) from exc

    return CallableTransport(deliver)
