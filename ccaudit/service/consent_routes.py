"""``GET /v1/consent/{consent_id}``: the history of one consent, its receipts oldest first."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from ccaudit.consent.receipts import ReceiptError, canonical_consent_id
from ccaudit.errors import StoreError
from ccaudit.service.auth import admin_authorised, store_failure, unauthorised
from ccaudit.settings import Settings
from ccaudit.store import Store


def make_consent_endpoint(settings: Settings, store: Store):  # type: ignore[no-untyped-def]
    async def history(request: Request) -> JSONResponse:
        if not admin_authorised(request, settings):
            return unauthorised()
        try:
            consent_id = canonical_consent_id(request.path_params["consent_id"])
        except ReceiptError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        try:
            receipts = await run_in_threadpool(store.consent_history, consent_id)
        except StoreError as exc:
            return store_failure(exc)
        if not receipts:
            return JSONResponse({"error": f"no receipts for consent {consent_id}"}, status_code=404)
        return JSONResponse({"consent_id": consent_id, "receipts": receipts})

    return history
