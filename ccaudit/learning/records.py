"""Where the catalogue's versions, the waivers and their revocations are kept (migrations 0013, 0014 and
0016). Bound parameters only."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ccaudit.errors import ConfigurationError
from ccaudit.learning.catalogue import EMPTY, Catalogue, CatalogueError, load_catalogue, parse_catalogue
from ccaudit.learning.evaluate import Waiver
from ccaudit.store import Store
from ccaudit.store.client import insert_rows, query_rows


class Catalogues:
    """The catalogue in force: the highest version of the file's and those published through the API.

    Read from the store at most every ``REFRESH`` seconds (another replica's publication shows within
    that); a publication through this process shows at once.
    """

    REFRESH = 5.0

    def __init__(self, store: Store, file: Path | None = None) -> None:
        self._store = store
        try:
            self._file = load_catalogue(file) if file is not None else None
        except CatalogueError as exc:
            raise ConfigurationError("CCAUDIT_LEARNING_CATALOGUE_FILE", str(exc)) from None
        self._lock = threading.Lock()
        self._cached: Catalogue | None = None
        self._loaded = 0.0

    def current(self) -> Catalogue:
        with self._lock:
            if self._cached is not None and time.monotonic() - self._loaded < self.REFRESH:
                return self._cached
        rows = query_rows(
            self._store.client,
            f"SELECT version, body FROM {self._store.database}.learning_catalogues FINAL ORDER BY version DESC LIMIT 1",
        )
        stored = parse_catalogue(json.loads(rows[0][1]), f"stored version {rows[0][0]}") if rows else None
        found = max((c for c in (self._file, stored) if c is not None), key=lambda c: c.version, default=EMPTY)
        with self._lock:
            self._cached, self._loaded = found, time.monotonic()
        return found

    def publish(self, data: Any, account: str) -> Catalogue:
        """Validate and store a new version; it must be higher than the one in force."""
        catalogue = parse_catalogue(data)
        current = self.current()
        if catalogue.version <= current.version and current is not EMPTY:
            raise CatalogueError(f"version: {catalogue.version} is not above the version in force, {current.version}")
        body = json.dumps(catalogue.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=True)
        insert_rows(self._store.client, self._store.database, "learning_catalogues",
                    [[catalogue.version, body, account, datetime.now(UTC)]],
                    ("version", "body", "created_by", "created_at"))  # fmt: skip
        with self._lock:
            self._cached, self._loaded = catalogue, time.monotonic()
        return catalogue


class Waivers:
    """Waivers granted by learning managers."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def grant(
        self, platform: str, learner: str, module: str, organisation: str, reason: str, by: str, retention_days: int
    ) -> Waiver:
        waiver = Waiver(str(uuid.uuid4()), by, reason, datetime.now(UTC))
        row = [waiver.waiver_id, platform, learner, module, organisation, reason, by, waiver.granted_at, retention_days]
        insert_rows(self._store.client, self._store.database, "learning_waivers", [row], (
            "waiver_id", "platform", "learner", "module", "organisation", "reason", "granted_by", "granted_at",
            "retention_days",
        ))  # fmt: skip
        return waiver

    def waiver_for(self, platform: str, learner: str, module: str) -> Waiver | None:
        """The first waiver of ``module`` for the learner that is not revoked, if any."""
        found = self.in_force(platform, learner, module)
        return found[0][0] if found else None

    def in_force(self, platform: str, learner: str, module: str) -> list[tuple[Waiver, str]]:
        """The learner's waivers of ``module`` not revoked, oldest first, each with its organisation."""
        db = self._store.database
        rows = query_rows(
            self._store.client,
            f"SELECT toString(waiver_id), granted_by, reason, granted_at, organisation FROM {db}.learning_waivers "
            "WHERE platform = {platform:String} AND learner = {learner:String} AND module = {module:String} "
            f"AND waiver_id NOT IN (SELECT waiver_id FROM {db}.learning_waiver_revocations "
            "WHERE platform = {platform:String} AND learner = {learner:String} AND module = {module:String}) "
            "ORDER BY granted_at, waiver_id",
            {"platform": platform, "learner": learner, "module": module},
        )
        return [(Waiver(str(i), str(by), str(why), at.replace(tzinfo=UTC)), str(org)) for i, by, why, at, org in rows]

    def revoke(
        self,
        platform: str,
        learner: str,
        module: str,
        waivers: list[str],
        organisation: str,
        reason: str,
        by: str,
        retention_days: int,
    ) -> datetime:
        """Record the revocation of ``waivers`` (their ids); the moment it took effect."""
        now = datetime.now(UTC)
        rows = [[uuid.UUID(w), platform, learner, module, organisation, reason, by, now, retention_days]
                for w in waivers]  # fmt: skip
        insert_rows(self._store.client, self._store.database, "learning_waiver_revocations", rows, (
            "waiver_id", "platform", "learner", "module", "organisation", "reason", "revoked_by", "revoked_at",
            "retention_days",
        ))  # fmt: skip
        return now
