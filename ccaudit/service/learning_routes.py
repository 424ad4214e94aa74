"""Eligibility, waivers and the module catalogue over the API.

- ``GET /v1/eligibility/{learner}/{module}`` (``eligibility:read``): a platform read token with that
  scope asks for its own platform; staff (an operator, a learning_manager for learners of their
  organisations) name it with ``?platform=``. ``?view=learner`` (the default for a platform read
  token) shows only the conditions still missing, ``view=full`` (the default for staff) the whole
  tree. Staff reads are recorded in the access stream before the answer. An answer that grants
  access is an audit event. 404 for an unknown module or a learner outside the reader's organisations.
- ``POST /v1/eligibility/waivers`` (``learning:waive``): ``{"platform", "learner", "module", "reason",
  "organisation"}``; 201 with the waiver, which is an audit event too.
- ``POST /v1/eligibility/waivers/revocations`` (``learning:waive``): ``{"platform", "learner", "module",
  "reason"}``: takes back the learner's waivers of the module in force (404 when none is), audited.
- ``GET /v1/learning/eligible/{module}?organisation=`` (``eligibility:read``): the organisation's
  learners who may start the module, evaluated in the engine (``ccaudit.learning.bulk``). A list,
  not a grant: the audit trail records grants when the platform asks for one learner.
- ``GET /v1/learning/stats/{module}`` (``learning:stats``): ``by`` (organisation, profession,
  period), ``since``/``until``; a learning_manager sees their organisations only; small groups
  suppressed (``ccaudit.learning.stats``).
- ``GET``/``PUT /v1/learning/catalogue``: the catalogue in force; a new version (operators).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ccaudit.access import Principal
from ccaudit.learning.bulk import eligible_learners
from ccaudit.learning.catalogue import CatalogueError
from ccaudit.learning.eligibility import Eligibility, Forbidden, NotFound, View
from ccaudit.learning.stats import StatsQuery, module_statistics
from ccaudit.search import access_log
from ccaudit.service.answers import error, guarded
from ccaudit.service.auth import principal
from ccaudit.service.bodies import json_object
from ccaudit.service.params import BadParameter, iso_time, refuse_unknown, text
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
    async def revoke(request: Request) -> Response:
        who = principal(request)
        body = await json_object(request)
        refuse_unknown(cast(Any, body), ("platform", "learner", "module", "reason"))
        platform = _platform(who, _string(body, "platform", 63))
        learner, module = _string(body, "learner", 256), _string(body, "module", 256)
        reason = _string(body, "reason", 1024)
        try:
            waivers, at = await run_in_threadpool(eligibility.revoke, who, platform, learner, module, reason)
        except NotFound as exc:
            return error(404, str(exc))
        return JSONResponse(
            {"platform": platform, "learner": learner, "module": module, "reason": reason,
             "revoked": [w.waiver_id for w in waivers], "revoked_by": who.subject,
             "revoked_at": at.isoformat().replace("+00:00", "Z")},
        )  # fmt: skip

    @guarded
    async def eligible(request: Request) -> Response:
        who = principal(request)
        refuse_unknown(request.query_params, ("platform", "organisation"))
        platform = _platform(who, text("platform", request.query_params.get("platform"), 63))
        organisation = text("organisation", request.query_params.get("organisation"), 256)
        if not organisation:
            raise BadParameter("organisation", "name the organisation")
        if who.organisations is not None and organisation not in who.organisations:
            return error(404, f"no organisation {organisation!r} among yours")
        module = request.path_params["module"]
        catalogue = await run_in_threadpool(eligibility.catalogues.current)
        if module not in catalogue.modules:
            return error(404, f"no module {module!r} in catalogue version {catalogue.version}")
        now = datetime.now(UTC)
        learners = await run_in_threadpool(eligible_learners, store, catalogue, platform, organisation, module, now)
        if who.kind in ("account", "personal_token"):
            filters = json.dumps({"platform": platform, "organisation": organisation, "module": module})
            await run_in_threadpool(
                access_log.record, store, who, "/v1/learning/eligible/{module}", "search", filters, len(learners)
            )
        return JSONResponse({"module": module, "platform": platform, "organisation": organisation,
                             "rule_version": catalogue.version, "data_as_of": now.isoformat().replace("+00:00", "Z"),
                             "learners": learners})  # fmt: skip

    @guarded
    async def statistics(request: Request) -> Response:
        who = principal(request)
        params = request.query_params
        refuse_unknown(params, ("platform", "by", "since", "until"))
        platform = _platform(who, text("platform", params.get("platform"), 63))
        by = params.get("by")
        if by not in (None, "organisation", "profession", "period"):
            raise BadParameter("by", "organisation, profession or period")
        module = request.path_params["module"]
        catalogue = await run_in_threadpool(eligibility.catalogues.current)
        if module not in catalogue.modules:
            return error(404, f"no module {module!r} in catalogue version {catalogue.version}")
        query = StatsQuery(platform, module, cast(Any, by), iso_time("since", params.get("since")),
                           iso_time("until", params.get("until")), who.organisations)  # fmt: skip
        return JSONResponse(await run_in_threadpool(module_statistics, store, catalogue, query))

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
        Route("/v1/eligibility/waivers/revocations", revoke, methods=["POST"]),
        Route("/v1/learning/eligible/{module}", eligible, methods=["GET"]),
        Route("/v1/learning/stats/{module}", statistics, methods=["GET"]),
        Route("/v1/learning/catalogue", catalogue, methods=["GET"]),
        Route("/v1/learning/catalogue", publish, methods=["PUT"]),
    ]
