"""The service's own audit events (eligibility granted, waivers), kept the way a platform keeps its.

An eligibility answer that grants access must leave an audit event before the answer is given, and
writing it to the store on the answer's path (an insert, and the ledger's look-up before it) cost
far more than the rest of the answer. So the service records its own decisions as the platforms'
middleware records theirs: the event is committed to a spool on local disk before the answer (one
journal line, group-committed: it survives the process being killed), and the service's recorder
delivers the spool's batches to the ingest pipeline in this process, which stores them with the
batched insert and the append-only ledger like any platform's events (a redelivery after a crash is
recognised by its event id and stored once).

One recorder and spool per platform, since a batch names one platform, made when the platform's
first decision comes. Their files are ``<data_dir>/spool/<database>/<platform>.sqlite3``: per
database, so that two services that share a data folder but not a database never ship each other's
events. ``start`` resumes the files a previous run left with events in them.

When the spool cannot take an event (full, or its disk failing), the event is stored synchronously
through the pipeline instead: the answer is slower, but no decision goes unrecorded. If that fails
too, the caller's answer fails (``StoreError``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from ccaudit.errors import IngestError
from ccaudit.events import AuditEvent
from ccaudit.ids import new_id
from ccaudit.ingest import Ingestor
from ccaudit.settings import Settings
from ccaudit.shipping.recorder import Recorder
from ccaudit.shipping.spool import Spool
from ccaudit.shipping.transport import CallableTransport, DeliveryError
from ccaudit.store.tokens import InvalidPlatform, check_platform

log = logging.getLogger("ccaudit.service")


class OwnTrail:
    """Writes the service's own audit events: durable before return, stored in batches after."""

    def __init__(self, settings: Settings, ingestor: Ingestor) -> None:
        self.settings = settings
        self.ingestor = ingestor
        self.folder = settings.data_dir.resolve() / "spool" / ingestor.store.database
        self._recorders: dict[str, Recorder] = {}
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> None:
        """Resume the spools a previous run of this service left (events not yet stored)."""
        if self.folder.is_dir():
            for path in sorted(self.folder.glob("*.sqlite3")):
                try:
                    self._recorder(check_platform(path.stem))
                except InvalidPlatform:
                    log.warning("ccaudit: %s is not a spool of this service; left alone", path)

    def record(self, platform: str, events: Sequence[AuditEvent]) -> None:
        """Keep ``events`` of ``platform`` durably; they are stored within a flush interval. Raises
        StoreError when neither the spool nor the store took them."""
        if not events:
            return
        recorder = None
        try:
            recorder = self._recorder(check_platform(platform))
        except InvalidPlatform:
            pass  # not a name for a file; ingest refuses it with a reason below
        except Exception:
            log.exception("ccaudit: the service's spool for %s could not be opened", platform)
        if recorder is not None and recorder.keep(list(events)):
            return
        self.ingestor.ingest(
            {"schema_version": 1, "batch_id": new_id(), "platform": platform, "events": [e.to_wire() for e in events]}
        )

    def _recorder(self, platform: str) -> Recorder | None:
        with self._lock:
            recorder = self._recorders.get(platform)
            if recorder is None and not self._closed:  # after shutdown: stored synchronously
                recorder = self._recorders[platform] = self._open(platform)
            return recorder

    def _open(self, platform: str) -> Recorder:
        settings = self.settings
        spool = Spool(
            self.folder / f"{platform}.sqlite3",
            max_events=settings.spool_max_events,
            max_age=settings.spool_max_age_days * 86400.0,
            dead_max_age=settings.dead_letter_max_age_days * 86400.0,
        )
        return Recorder(
            CallableTransport(self._deliver),
            platform=platform,
            spool=spool,
            queue_size=settings.queue_size,
            batch_size=settings.batch_size,
            flush_interval=settings.flush_interval,
            shutdown_timeout=settings.shutdown_timeout,
        )

    def _deliver(self, payload: bytes) -> None:
        try:
            self.ingestor.ingest_json(payload)
        except IngestError as exc:
            # An event of our own making that ingest refuses is a bug: dead-lettered with its reason,
            # never retried for ever.
            raise DeliveryError(str(exc), retryable=False, problems=exc.problems_with_index(), status=400) from exc

    def force_flush(self, timeout: float = 5.0) -> bool:
        """Store everything kept so far; True when done within ``timeout`` seconds."""
        with self._lock:
            recorders = list(self._recorders.values())
        return all(recorder.force_flush(timeout) for recorder in recorders)

    def shutdown(self, timeout: float) -> bool:
        """Stop the recorders (what is kept stays in the spools for the next start). Idempotent."""
        with self._lock:
            self._closed = True
            recorders = list(self._recorders.values())
        # Every recorder is stopped, whatever the others answered.
        stopped = [recorder.shutdown(timeout / max(1, len(recorders))) for recorder in recorders]
        return all(stopped)
