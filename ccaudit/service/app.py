"""The service's Starlette app factory: health, ingest, the audit read API, the usage summary,
consent histories, accounts and tokens, and the web console under ``/console``. Every route is held
to the access table (``auth.protect``; the console's by ``ccaudit.console.guard``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ccaudit import __version__
from ccaudit.access import AccountStore, ApiTokenStore, Authenticator
from ccaudit.console import console_routes
from ccaudit.console.mount import ConsoleDispatch
from ccaudit.ingest import Ingestor
from ccaudit.learning.eligibility import Eligibility
from ccaudit.learning.records import Catalogues, Waivers
from ccaudit.rights import retention
from ccaudit.rights.actions import Rights
from ccaudit.rights.closures import ClosureEraser
from ccaudit.seal.service import Sealing
from ccaudit.service.access_routes import access_routes
from ccaudit.service.audit_routes import audit_endpoints
from ccaudit.service.auth import protect
from ccaudit.service.consent_routes import make_consent_endpoint
from ccaudit.service.dashboard_routes import dashboard_routes
from ccaudit.service.ingest_routes import IngestCounters, make_ingest_endpoint
from ccaudit.service.learning_routes import learning_routes
from ccaudit.service.openapi import openapi
from ccaudit.service.own_trail import OwnTrail
from ccaudit.service.ratelimit import RateLimiter
from ccaudit.service.rights_routes import rights_routes
from ccaudit.service.token_routes import token_routes
from ccaudit.service.usage_routes import make_summary_endpoint
from ccaudit.service.xapi_routes import xapi_routes
from ccaudit.settings import Settings, load_settings
from ccaudit.store import Store
from ccaudit.store.tokens import TokenStore

log = logging.getLogger("ccaudit.service")


async def _retention_schedule(rights: Rights, minutes: float) -> None:
    """The retention job every ``minutes`` (ccaudit.rights.retention); a failed run is logged and
    the next one tries again."""
    while True:
        await asyncio.sleep(minutes * 60)
        try:
            report = await asyncio.to_thread(retention.run, rights.store, rights.settings, rights.clock())
            log.info("retention run: %d accounts, %d rows", len(report.due), sum(report.tables.values()))
        except Exception:
            log.exception("retention run failed")


def create_app(settings: Settings | None = None, store: Store | None = None) -> Starlette:
    """Build the service. Opens the store (embedded or server) named by the settings."""
    settings = settings or load_settings()
    store = store or Store.open(settings)
    ingestor = Ingestor(settings, store)
    tokens = TokenStore(store.client, store.database)
    limiter = RateLimiter(settings.ingest_rate, settings.ingest_burst)
    counters = IngestCounters()
    accounts = AccountStore(store.client, store.database)
    api_tokens = ApiTokenStore(store.client, store.database)
    authenticator = Authenticator(settings, accounts, api_tokens)
    # Names this process in /health, so the command line can tell it from another service that
    # answers on the same port (see ccaudit.service.presence).
    instance = uuid.uuid4().hex
    sealing = Sealing(settings, store, tokens)

    document = openapi()
    register = settings.processing_register.describe()

    async def register_document(request: Request) -> JSONResponse:
        # No personal data: what is processed, why and for how long is public information.
        return JSONResponse(register)

    async def openapi_document(request: Request) -> JSONResponse:
        return JSONResponse(document)

    async def health(request: Request) -> JSONResponse:
        store_ok = store.ping()
        seal = sealing.status()
        body = {
            "status": "ok" if store_ok else "degraded",
            "version": __version__,
            "instance": instance,
            "store": "ok" if store_ok else "unreachable",
            "ingest": counters.snapshot(),
            "seal": seal,
        }
        if seal["status"] in ("stopped", "failing"):
            body["status"] = "degraded"  # new seals stopped; ingest goes on (see ccaudit.seal.sealer)
        return JSONResponse(body, status_code=200 if store_ok else 503)

    # The service's own decisions (eligibility granted, waivers) enter the trail as a platform's events
    # do: kept in a spool before the answer, stored in batches through the ingest pipeline.
    own_trail = OwnTrail(settings, ingestor)
    rights = Rights(store, settings, ingestor.late, settle=own_trail.force_flush)
    # A closed or deactivated account is erased when its closure is stored (ccaudit.rights.closures).
    closures = ClosureEraser(store, settings, rights.clock)
    ingestor.on_closed = closures.notice
    reads = audit_endpoints(settings, store)
    catalogues = Catalogues(store, settings.learning_catalogue_file)
    # The learning platform's questions read on a handle of their own, not behind ingest's inserts.
    learning = store.for_job("learning")
    eligibility = Eligibility(settings, learning, catalogues, Waivers(learning), own_trail.record)
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/v1/events", make_ingest_endpoint(ingestor, tokens, limiter, counters, sealing.heads), methods=["POST"]),
        Route("/v1/audit/events", reads["/v1/audit/events"], methods=["GET"]),
        Route("/v1/audit/events/{event_id}", reads["/v1/audit/events/{event_id}"], methods=["GET"]),
        Route("/v1/audit/export", reads["/v1/audit/export"], methods=["GET"]),
        Route("/v1/access/events", reads["/v1/access/events"], methods=["GET"]),
        Route("/v1/usage/summary", make_summary_endpoint(settings, store), methods=["GET"]),
        Route("/v1/consent/{consent_id}", make_consent_endpoint(settings, store), methods=["GET"]),
        *learning_routes(eligibility),
        *dashboard_routes(settings, store),
        *xapi_routes(ingestor, tokens, catalogues, limiter),
        *rights_routes(rights),
        *token_routes(settings, tokens),
        *access_routes(accounts, api_tokens),
        Route("/v1/openapi.json", openapi_document, methods=["GET"]),
        Route("/v1/register", register_document, methods=["GET"]),
        Route("/v1/verify", sealing.verify_endpoint(), methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The sealer runs while the service serves, and seals what it received when it stops.
        sealing.start()
        own_trail.start()
        closures.start()
        task = None
        if settings.retention_interval_minutes > 0:
            task = asyncio.create_task(_retention_schedule(rights, settings.retention_interval_minutes))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            # Before the sealer's last seal, so that what the trail still held is in it.
            own_trail.shutdown(settings.shutdown_timeout)
            closures.shutdown(settings.shutdown_timeout)
            sealing.stop(settings.shutdown_timeout)

    app = Starlette(routes=[protect(route, authenticator) for route in routes], lifespan=lifespan)
    # The console's HTML pages answer every path under /console, held to the same table by their own
    # guard (a session, not a bearer token); the app's routes stay the API its document describes.
    console = console_routes(
        settings, store, authenticator, tokens, eligibility=eligibility, sealing=sealing, rights=rights
    )
    app.add_middleware(ConsoleDispatch, routes=console)
    app.state.console_routes = console
    app.state.settings = settings
    app.state.instance = instance
    app.state.store = store
    app.state.ingest_counters = counters
    app.state.tokens = tokens
    app.state.accounts = accounts
    app.state.api_tokens = api_tokens
    app.state.sealing = sealing
    app.state.own_trail = own_trail
    app.state.rights = rights
    return app
