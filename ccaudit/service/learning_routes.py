"""Eligibility, waivers and the module catalogue over the API.

- ``GET /v1/eligibility/{learner}/{module}`` (``eligibility:read``): a platform read token with that
  scope asks for its own platform; staff (an operator, a learning_manager for learners of their
  organisations) name it with ``?platform=``. ``?view=learner`` (the default for a platform read
  token) shows only the conditions still missing, ``view=full`` (the default for staff) the whole
  tree. Staff reads are recorded in the access stream before the answer. An answer that grants
  access is an audit event. 404 for an unknown module or a learner outside the reader's organisations.
- ``POST /v1/eligibility/waivers`` (``learning:waive``): ``{"platform", "learner", "module", "reason",
  "organisation"}``; 201 with the waiver, which is an audit event too.
- ``GET``/``PUT /v1/learning/catalogue``: the catalogue in force; a new version (operators).
"""

from __future__ import annotations

import json
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ccaudit.access import Principal
from ccaudit.learning.catalogue import CatalogueError
from ccaudit.learning.eligibility import Eligibility, Forbidden, NotFound, View
from ccaudit.search import access_log
from ccaudit.service.answers import error, guarded
from ccaudit.service.auth import principal
from ccaudit.service.bodies import json_object
from ccaudit.service.params import BadParameter, refuse_unknown, text
from ccaudit.store.tokens import InvalidPlatform, check_platform

# A catalogue is larger than an admin request: a few hundred modules with their lessons and rules.
MAX_CATALOGUE_BODY = 4 * 1024 * 1024


def _platform(who: Principal, named: str | None) -> str:
    if who.platforms is not None:
        [own] = sorted(who.platforms)
        if named is not None and named != own:
            raise BadParameter("platform", f"this token reads platform {own!r} only")
        return own
    if named is None:
        raise BadParameter("platform", "name the learner's platform")
    try:
        return check_platform(named)
    except InvalidPlatform as exc:
        raise BadParameter("platform", str(exc)) from None


def _string(body: dict[str, Any], name: str, longest: int, required: bool = True) -> str:
    value = body.get(name, None if required else "")
    if not isinstance(value, str) or (required and not value) or len(value) > longest:
        raise BadParameter(name, f"expected a non-empty string of at most {longest} characters")
    return value


def learning_routes(eligibility: Eligibility) -> list[Route]:
    store = eligibility.store

    @guarded
    async def answer(request: Request) -> Response:
        who = principal(request)
        refuse_unknown(request.query_params, ("platform", "view"))
        platform = _platform(who, text("platform", request.query_params.get("platform"), 63))
        default: View = "learner" if who.kind == "platform_read" else "full"
        view = request.query_params.get("view", default)
        if view not in ("learner", "full"):
            raise BadParameter("view", "learner or full")
        learner, module = request.path_params["learner"], request.path_params["module"]
        if len(learner) > 256 or len(module) > 256:
            raise BadParameter("learner", "at most 256 characters")
        try:
            decision = await run_in_threadpool(eligibility.decide, who, platform, learner, module)
        except NotFound as exc:
            return error(404, str(exc))
        if who.kind in ("account", "personal_token"):
            # Staff seeing a learner's progress is a read of personal data (R6): recorded first.
            filters = json.dumps({"platform": platform, "learner": learner, "module": module, "view": view})
            await run_in_threadpool(
                access_log.record, store, who, "/v1/eligibility/{learner}/{module}", "detail", filters, 1
            )
        return JSONResponse(decision.as_dict(cast(View, view)))

    @guarded
    async def waive(request: Request) -> Response:
        who = principal(request)
        body = await json_object(request)
        refuse_unknown(cast(Any, body), ("platform", "learner", "module", "reason", "organisation"))
        platform = _platform(who, _string(body, "platform", 63))
        learner, module = _string(body, "learner", 256), _string(body, "module", 256)
        reason, organisation = _string(body, "reason", 1024), _string(body, "organisation", 256, required=False)
        try:
            waiver = await run_in_threadpool(eligibility.waive, who, platform, learner, module, reason, organisation)
        except NotFound as exc:
            return error(404, str(exc))
        except Forbidden as exc:
            return error(403, str(exc))
        return JSONResponse(
            {"waiver_id": waiver.waiver_id, "platform": platform, "learner": learner, "module": module,
             "reason": waiver.reason, "granted_by": waiver.granted_by,
             "granted_at": waiver.granted_at.isoformat().replace("+00:00", "Z")},
            status_code=201,
        )  # fmt: skip

    @guarded
    async def catalogue(request: Request) -> Response:
        current = await run_in_threadpool(eligibility.catalogues.current)
        return JSONResponse(current.model_dump(mode="json", by_alias=True, exclude_none=True))

    @guarded
    async def publish(request: Request) -> Response:
        who = principal(request)
        body = await json_object(request, MAX_CATALOGUE_BODY)
        try:
            published = await run_in_threadpool(eligibility.catalogues.publish, body, who.subject)
        except CatalogueError as exc:
            return error(400, str(exc))
        return JSONResponse({"version": published.version, "modules": sorted(published.modules)}, status_code=201)

    return [
        Route("/v1/eligibility/{learner}/{module}", answer, methods=["GET"]),
        Route("/v1/eligibility/waivers", waive, methods=["POST"]),
        Route("/v1/learning/catalogue", catalogue, methods=["GET"]),
        Route("/v1/learning/catalogue", publish, methods=["PUT"]),
    ]
