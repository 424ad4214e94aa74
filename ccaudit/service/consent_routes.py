"""``GET /v1/consent/{consent_id}``: the history of one consent, its receipts oldest first.

400 when the id is not a UUID; 404 when no receipt has that id; 401 without a credential, 403
without ``consent:read`` (the DPO); 503 with ``Retry-After`` when the store fails.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ccaudit.consent.receipts import ReceiptError, canonical_consent_id
from ccaudit.service.answers import Endpoint, error, guarded
from ccaudit.settings import Settings
from ccaudit.store import Store


def make_consent_endpoint(settings: Settings, store: Store) -> Endpoint:
    @guarded
    async def history(request: Request) -> Response:
        try:
            consent_id = canonical_consent_id(request.path_params["consent_id"])
        except ReceiptError as exc:
            return error(400, str(exc))
        receipts = await run_in_threadpool(store.consent_history, consent_id)
        if not receipts:
            return error(404, f"no receipts for consent {consent_id}")
        return JSONResponse({"consent_id": consent_id, "receipts": receipts})

    return history
