"""An xAPI statements resource, server to server, for an LMS or a platform relaying cmi5 content.

- ``POST /xapi/statements``: one statement or an array; answers 200 with the statements' ids.
- ``PUT /xapi/statements?statementId=<uuid>``: one statement under that id; answers 204.
- ``X-Experience-API-Version: 1.0.x`` is required and answered; credentials are the platform's
  ingest token, as ``Authorization: Bearer <token>`` or as the password of HTTP Basic (what LMS
  plugins send; the user name is not read). Statements are stored for the token's platform.
- A batch is all or nothing: one statement that cannot be mapped (``ccaudit.learning.xapi``) or
  that the learning stream refuses is a 400 naming it, and nothing is stored. Statements whose verb
  carries no progress are acknowledged (their ids returned) and not stored. A stored id sent again
  with the same mapped content is acknowledged; with other content, 409.

State, Activity Profile and Agent Profile resources, and cmi5 launch, are not served.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ccaudit.errors import IngestError, RewriteRefused, StoreError
from ccaudit.ingest import Ingestor
from ccaudit.learning.records import Catalogues
from ccaudit.learning.xapi import StatementError, map_statements
from ccaudit.service.answers import store_failure
from ccaudit.service.ratelimit import RateLimiter
from ccaudit.store.tokens import TokenStore

VERSION = "1.0.3"
_ACCEPTED_VERSION = re.compile(r"^1\.0(\.\d+)?$")
MAX_STATEMENTS_BODY = 4 * 1024 * 1024
MAX_STATEMENTS = 1000


def _answer(status: int, body: Any = None, **headers: str) -> Response:
    headers = {"X-Experience-API-Version": VERSION, **headers}
    if body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


def _token(authorization: str) -> str:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return ""


def xapi_routes(ingestor: Ingestor, tokens: TokenStore, catalogues: Catalogues, limiter: RateLimiter) -> list[Route]:
    async def take(request: Request, statement_id: str | None) -> Response:
        try:
            platform = await run_in_threadpool(tokens.verify, _token(request.headers.get("authorization", "")))
        except StoreError as exc:
            return store_failure(exc)
        if platform is None:
            return _answer(401, {"error": "a platform's ingest token is required (Bearer, or Basic as the password)"},
                           **{"WWW-Authenticate": 'Basic realm="xapi"'})  # fmt: skip
        # The ingest token's rate, shared with POST /v1/events: one budget per platform token.
        wait = limiter.acquire(_token(request.headers.get("authorization", "")))
        if wait > 0:
            return _answer(
                429, {"error": "rate limit exceeded for this token"}, **{"Retry-After": str(math.ceil(wait))}
            )
        if not _ACCEPTED_VERSION.match(request.headers.get("x-experience-api-version", "")):
            return _answer(400, {"error": "X-Experience-API-Version: 1.0.x is required"})
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_STATEMENTS_BODY:
                return _answer(413, {"error": f"body larger than {MAX_STATEMENTS_BODY} bytes"})
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return _answer(400, {"error": f"malformed JSON: {exc}"})
        if statement_id is not None:
            if not isinstance(data, dict):
                return _answer(400, {"error": "PUT takes one statement"})
            if data.get("id", statement_id) != statement_id:
                return _answer(400, {"error": "id: differs from the statementId parameter"})
            data = {**data, "id": statement_id}
        statements = data if isinstance(data, list) else [data]
        if not 1 <= len(statements) <= MAX_STATEMENTS:
            return _answer(400, {"error": f"from 1 to {MAX_STATEMENTS} statements"})
        try:
            catalogue = await run_in_threadpool(catalogues.current)
            ids, events, _ = map_statements(statements, catalogue, datetime.now(UTC))
        except StatementError as exc:
            return _answer(400, {"error": str(exc)})
        except StoreError as exc:
            return store_failure(exc)
        if events:
            batch = {"schema_version": 1, "batch_id": str(uuid.uuid4()), "platform": platform, "events": events}
            try:
                await run_in_threadpool(ingestor.ingest, batch, platform=platform)
            except RewriteRefused as exc:
                return _answer(409, {"error": "a statement id is stored with other content", "problems": [
                    {"index": i, "reason": r} for i, r in exc.problems]})  # fmt: skip
            except IngestError as exc:
                return _answer(400, {"error": "statements the learning stream refuses", "problems": [
                    {"index": i, "reason": r} for i, r in exc.problems]})  # fmt: skip
            except StoreError as exc:
                return store_failure(exc)
        return _answer(204) if statement_id is not None else _answer(200, ids)

    async def post(request: Request) -> Response:
        return await take(request, None)

    async def put(request: Request) -> Response:
        raw = request.query_params.get("statementId", "")
        try:
            statement_id = str(uuid.UUID(raw))
        except ValueError:
            return _answer(400, {"error": "statementId: a UUID is required"})
        return await take(request, statement_id)

    return [
        Route("/xapi/statements", post, methods=["POST"]),
        Route("/xapi/statements", put, methods=["PUT"]),
    ]
