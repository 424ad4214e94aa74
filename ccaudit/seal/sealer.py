"""The sealer: a background thread of the service that seals each platform's streams per period.

Periods follow arrival at the service (``received_at``; the access stream's ``event_time``, which
the service writes): a period [start, end) is sealed once ``end + CCAUDIT_SEAL_SETTLE`` has passed,
so that batches in flight at its end are stored first. Periods are ``CCAUDIT_SEAL_PERIOD`` seconds on
a fixed grid; each chain's seals are contiguous (a seal starts where the previous ended; a chain's
first seal starts at the epoch, so rows stored before sealing began are covered). A period with no
rows is sealed too (``leaf_count`` 0), so a removed period shows as a gap. When the service was
down, the periods it missed are sealed as one. At shutdown everything received is sealed, without
waiting for the settle delay (ingest has stopped).

Which platforms: every platform with an ingest token, with a chain already, or with rows in the
period. The access stream is the service's own, one chain under ``_service``.

Several replicas: each sealer claims a seq before it draws any secret for its rows (see
:meth:`ccaudit.seal.store.SealStore.make_leaves`, migration 0046), so one sealer seals each platform's
period and the others stand down for that chain until their next round. A sealer is known by its
host and key file (:func:`identity`): restarted, it takes over its own interrupted seq at once, while
another sealer's lapses only after ``CLAIM_MS``. As a backstop, a seal is inserted with a
deduplication token per platform, stream and seq, and read back: a sealer that finds another's seal
under its seq stands down too (migration 0015).

A missing or unreadable private key stops sealing, never silently: the error is logged at every
change, kept in :attr:`Sealer.error` (``/health`` shows it), and sealing resumes when the key can be
read again; the periods missed meanwhile are sealed then.
"""

from __future__ import annotations

import logging
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ccaudit.errors import CcauditError
from ccaudit.seal import canonical as cf
from ccaudit.seal import keys
from ccaudit.seal.seals import GENESIS, Seal, write_file
from ccaudit.seal.store import SealStore

log = logging.getLogger("ccaudit.seal")


class SealChainError(CcauditError):
    """The chain cannot be continued: its latest stored seal does not verify."""


def identity(key_file: Path) -> str:
    """This sealer's name in the store: its host and its key file. It outlives a restart, so a
    restarted sealer knows an attempt it left unfinished as its own. Two services on one host
    sealing with one key file would share it: give each its own key file, or seal with one."""
    return f"{socket.gethostname()}:{key_file.resolve()}"


class Sealer:
    def __init__(
        self,
        store: SealStore,
        *,
        period_s: float,
        settle_s: float,
        folder: Path,
        key_file: Path,
        platforms: Callable[[], Iterable[str]] = lambda: (),
        clock: Callable[[], float] = time.time,
        sealer_id: str | None = None,
    ) -> None:
        self.store = store
        self.period_ms = int(period_s * 1000)
        self.settle_ms = int(settle_s * 1000)
        self.folder = folder
        self.key_file = key_file
        self._platforms = platforms
        self._clock = clock
        self.sealer_id = sealer_id if sealer_id is not None else identity(key_file)
        self.error: str | None = None
        self.failure: str | None = None
        self._heads: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._round = threading.Lock()
        self._scanned: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.seals_made = 0

    # --- key ---

    def _key(self) -> keys.SigningKey | None:
        try:
            key = keys.load(self.key_file)
        except keys.SealKeyError as exc:
            if self.error != str(exc):
                log.error("ccaudit: sealing stopped: %s", exc)
            self.error = str(exc)
            return None
        if self.error is not None:
            log.warning("ccaudit: sealing resumed with key %s", key.key_id)
        self.error = None
        self._publish_keys()
        return key

    def _publish_keys(self) -> None:
        source = keys.public_keys_file(self.key_file)
        target = self.folder / keys.PUBLIC_KEYS
        if source.exists() and (not target.exists() or target.read_bytes() != source.read_bytes()):
            self.folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)

    # --- sealing ---

    def heads(self, platform: str) -> list[dict[str, Any]]:
        """The latest seal of each of ``platform``'s streams, as a platform keeps them."""
        with self._lock:
            return [h for (p, _), h in sorted(self._heads.items()) if p == platform]

    def seal_due(self, final: bool = False) -> int:
        """Seal every period that is due (``final``: everything received until now). Returns the
        number of seals made; 0 when the key cannot be used (see :attr:`error`)."""
        # One round at a time: the thread's and a caller's (shutdown, a command) must not race for a seq.
        with self._round:
            return self._seal_round(final)

    def _seal_round(self, final: bool) -> int:
        key = self._key()
        if key is None:
            return 0
        now = int(self._clock() * 1000)
        boundary = now if final else (now - self.settle_ms) // self.period_ms * self.period_ms
        made = 0
        broken: list[str] = []
        stored = set(self.store.chains())
        named = set(self._platforms())
        for form in cf.STREAMS.values():
            platforms = {p for p, s in stored if s == form.stream} | (named if form.per_platform else set())
            if not form.per_platform:
                platforms.add(cf.SERVICE_PLATFORM)
            for platform in sorted(platforms):
                made += self._seal_other_chains(broken, form, platform, boundary, now, key)
            # A platform with rows but neither a token nor a chain yet (its token was revoked) is sealed too.
            if form.per_platform:
                # Only rows that arrived since the last round can name a platform not seen before.
                since = self._scanned.get(form.stream, 0)
                for platform in self.store.platforms_with_rows(form, since, boundary):
                    if platform not in platforms:
                        made += self._seal_other_chains(broken, form, platform, boundary, now, key)
                self._scanned[form.stream] = boundary
        self.seals_made += made
        if broken:
            raise SealChainError("; ".join(broken))
        return made

    def _seal_other_chains(
        self, broken: list[str], form: cf.StreamForm, platform: str, boundary: int, now: int, key: keys.SigningKey
    ) -> int:
        """``_seal_chain``, a broken chain noted in ``broken`` so that the others are still sealed."""
        try:
            return self._seal_chain(form, platform, boundary, now, key)
        except SealChainError as exc:
            broken.append(str(exc))
            return 0

    def _seal_chain(self, form: cf.StreamForm, platform: str, boundary: int, now: int, key: keys.SigningKey) -> int:
        latest = self.store.latest(platform, form.stream)
        if latest is None:
            seq, start, prev = 1, 0, GENESIS
        else:
            last = Seal.from_payload(latest.payload)
            public = keys.read_public_keys(keys.public_keys_file(self.key_file)).get(last.key_id)
            if public is None or not keys.verify_signature(public, latest.payload.encode(), latest.signature):
                # Chaining onto an altered seal would vouch for it: stop, loudly, until it is looked into.
                raise SealChainError(
                    f"the latest stored seal of {platform}/{form.stream} (#{latest.seq}) does not verify under "
                    "this deployment's public keys: run `ccaudit verify`"
                )
            seq, start, prev = last.seq + 1, last.period_end_ms, last.hash()
            self._remember(last)
        if boundary <= start:
            return 0
        leaves = self.store.make_leaves(form, platform, seq, start, boundary, self.sealer_id)
        if leaves is None:
            log.info("ccaudit: %s/%s #%d is claimed by another sealer; standing down", platform, form.stream, seq)
            return 0
        seal = Seal(
            platform=platform,
            stream=form.stream,
            seq=seq,
            period_start_ms=start,
            period_end_ms=boundary,
            leaf_count=leaves.count,
            root=leaves.root,
            prev=prev,
            key_id=key.key_id,
            sealed_at_ms=now,
        )
        signature = key.sign(seal.payload())
        self.store.insert_seal(seal, signature, self.sealer_id)
        stored = self.store.latest(platform, form.stream)
        if stored is None or stored.payload != seal.payload().decode():
            log.warning("ccaudit: seal %s/%s #%d was made by another sealer; standing down", platform, form.stream, seq)
            return 0
        write_file(self.folder, seal, signature, leaves.listing)
        self._remember(seal)
        return 1

    def _remember(self, seal: Seal) -> None:
        with self._lock:
            self._heads[(seal.platform, seal.stream)] = seal.head()

    # --- background thread ---

    def start(self) -> None:
        """Seal in a daemon thread, every period (and now, for what was missed)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="ccaudit-sealer", daemon=True)
        self._thread.start()

    def run_once(self, final: bool = False) -> int:
        """One round, whatever fails in it logged and kept in :attr:`failure` (``/health`` shows it):
        the store away, the seal folder unwritable. The next round seals what this one could not; a
        seal stored whose file could not be written shows in ``verify`` as ``folder_mismatch``."""
        try:
            made = self.seal_due(final)
        except (CcauditError, OSError, ValueError) as exc:
            message = f"sealing failed: {exc}"
            if self.failure != message:
                log.error("ccaudit: %s", message)
            self.failure = message
            return 0
        self.failure = None
        return made

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            now = int(self._clock() * 1000)
            next_due = ((now - self.settle_ms) // self.period_ms + 1) * self.period_ms + self.settle_ms
            self._stop.wait(max(0.05, min((next_due - now) / 1000, 60.0)))

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Stop the thread and seal everything received. Bounded: False if the thread did not stop."""
        self._stop.set()
        stopped = True
        if self._thread is not None:
            self._thread.join(timeout)
            stopped = not self._thread.is_alive()
        if stopped:
            self.run_once(final=True)
            return self.failure is None
        return stopped

    def status(self) -> dict[str, Any]:
        """``stopped`` (no usable key), ``failing`` (the last round failed), or ``ok``."""
        state = "stopped" if self.error else "failing" if self.failure else "ok"
        return {"status": state, "error": self.error or self.failure, "seals_made": self.seals_made}
