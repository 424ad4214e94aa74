"""Sealing inside the service: the sealer's life, the heads for ingest answers, ``/health``'s part
and ``GET /v1/verify``.

The sealer starts with the app's lifespan (``ccaudit serve``), not when the app is built: an app
built in a test or a tool makes no key and writes no seal. On the first start the key pair is made
outside the store (ccaudit.seal.keys); at shutdown everything received is sealed.

``GET /v1/verify`` (the auditor's ``seal:verify``): ``platform``, ``stream``, ``since`` and
``until`` (ISO 8601), ``trusted_head`` (repeatable or comma-separated,
``<platform>/<stream>:<seq>:<hash>``); answers
the report of :mod:`ccaudit.seal.verify` as JSON, ``ok`` false when anything was found.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ccaudit.seal import canonical as cf
from ccaudit.seal import keys
from ccaudit.seal.sealer import Sealer
from ccaudit.seal.seals import Seal
from ccaudit.seal.store import SealStore
from ccaudit.seal.verify import Report, TrustedHead, load_public_keys, verify_store
from ccaudit.service import params
from ccaudit.service.answers import Endpoint, guarded
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.client import job_client
from ccaudit.store.tokens import TokenStore

VERIFY_PARAMS = ("platform", "stream", "since", "until", "trusted_head")


class Sealing:
    """The service's sealer (when ``CCAUDIT_SEAL`` is on) and what the routes ask of it."""

    def __init__(self, settings: Settings, store: Store, tokens: TokenStore) -> None:
        self.settings = settings
        self.store = SealStore(job_client(store.client, "sealing"), store.database)
        self.sealer: Sealer | None = None
        if settings.seal:
            self.sealer = Sealer(
                self.store,
                period_s=settings.seal_period,
                settle_s=settings.seal_settle,
                folder=settings.seal_folder,
                key_file=settings.seal_key_path,
                platforms=lambda: sorted({t.platform for t in tokens.list_tokens()}),
            )

    def start(self) -> None:
        if self.sealer is None:
            return
        keys.ensure(self.settings.seal_key_path)
        self.sealer.start()

    def stop(self, timeout: float) -> None:
        if self.sealer is not None:
            self.sealer.shutdown(timeout)

    def heads(self, platform: str) -> list[dict[str, Any]]:
        return self.sealer.heads(platform) if self.sealer is not None else []

    def status(self) -> dict[str, Any]:
        if self.sealer is None:
            return {"status": "off"}
        return self.sealer.status()

    def public_keys(self) -> dict[str, str]:
        return load_public_keys(
            keys.public_keys_file(self.settings.seal_key_path), self.settings.seal_folder / keys.PUBLIC_KEYS
        )

    def verify(
        self,
        platform: str | None = None,
        stream: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        heads: Sequence[TrustedHead] = (),
    ) -> Report:
        """Verify the store and the seal folder (``GET /v1/verify`` and the console's page)."""
        return verify_store(
            self.store,
            self.settings.seal_folder,
            self.public_keys(),
            platform=platform,
            stream=stream,
            start_ms=int(since.timestamp() * 1000) if since else None,
            end_ms=int(until.timestamp() * 1000) if until else None,
            heads=heads,
            now_ms=int(time.time() * 1000),
        )

    def latest_seals(self) -> list[dict[str, Any]]:
        """The latest stored seal of each chain, as read from its payload (for the console)."""
        out = []
        for platform, stream in self.store.chains():
            latest = self.store.latest(platform, stream)
            if latest is None:
                continue
            seal = Seal.from_payload(latest.payload)
            out.append({"platform": platform, "stream": stream, "seq": seal.seq, "hash": seal.hash(),
                        "period_end": datetime.fromtimestamp(seal.period_end_ms / 1000, UTC),
                        "key_id": seal.key_id, "leaf_count": seal.leaf_count})  # fmt: skip
        return out

    def verify_endpoint(self) -> Endpoint:
        @guarded
        async def verify(request: Request) -> Response:
            query = request.query_params
            params.refuse_unknown(query, VERIFY_PARAMS)
            platform = params.text("platform", query.get("platform"), 64)
            stream = query.get("stream")
            if stream is not None and stream not in cf.STREAMS:
                raise params.BadParameter("stream", f"one of {', '.join(sorted(cf.STREAMS))}")
            since = params.iso_time("since", query.get("since"))
            until = params.iso_time("until", query.get("until"))
            heads = []
            for text in query.getlist("trusted_head"):
                for part in text.split(","):
                    try:
                        heads.append(TrustedHead.parse(part))
                    except ValueError as exc:
                        raise params.BadParameter("trusted_head", str(exc)) from None
            report = await run_in_threadpool(self.verify, platform, stream, since, until, heads)
            return JSONResponse(report.as_dict())

        return verify
