"""Data-subject rights and legal holds over the API, for the DPO (``subjects:admin``).

- ``POST /v1/subjects/{action}``: ``export``, ``erase``, ``restrict``, ``object``, ``rectify``, with a
  body ``{"account_id", "identifiers": [...], "platform", "request_id", "purpose", ...}``
  (``ccaudit.rights.actions.SubjectBody``);
- ``GET/POST /v1/subjects/requests``: the requests (overdue ones marked), and one step of one
  (``StepBody``: receive, verify, extend, done, refuse);
- ``GET/POST /v1/retention/holds``: holds in force; place or lift (``{"platform", "account_id",
  "reason", "lift"}``);
- ``POST /v1/retention/run`` and ``POST /v1/retention/apply`` (``{"dry_run": true}`` to only list):
  the retention job and the TTLs' alignment, for the command line when a service holds the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ccaudit.rights import holds, retention
from ccaudit.rights.actions import Actor, Rights, StepBody, SubjectBody
from ccaudit.rights.erase import HeldError
from ccaudit.rights.requests import RequestError
from ccaudit.service.answers import error, guarded
from ccaudit.service.auth import principal
from ccaudit.service.bodies import BodyTooLarge, json_object


def _actor(request: Request) -> Actor:
    who = principal(request)
    return Actor(who.subject, who.role.value if who.role else who.kind)


async def _parse(request: Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(await json_object(request))
    except BodyTooLarge as exc:
        return error(413, str(exc))
    except ValidationError as exc:
        first = exc.errors()[0]
        return error(400, f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")


def rights_routes(rights: Rights) -> list[Route]:
    actions: dict[str, Callable[[SubjectBody, Actor], dict[str, Any]]] = {
        "export": rights.export, "erase": rights.erase, "restrict": rights.restrict,
        "object": rights.object_, "rectify": rights.rectify,
    }  # fmt: skip

    @guarded
    async def subject_action(request: Request) -> Response:
        action = actions.get(request.path_params["action"])
        if action is None:
            return error(404, f"no such action; one of {', '.join(actions)}")
        body = await _parse(request, SubjectBody)
        if isinstance(body, Response):
            return body
        try:
            return JSONResponse(await run_in_threadpool(action, body, _actor(request)))
        except (HeldError, RequestError) as exc:
            return error(409, str(exc))
        except ValueError as exc:
            return error(400, str(exc))

    @guarded
    async def list_requests(request: Request) -> Response:
        return JSONResponse({"requests": await run_in_threadpool(rights.requests)})

    @guarded
    async def request_step(request: Request) -> Response:
        body = await _parse(request, StepBody)
        if isinstance(body, Response):
            return body
        try:
            return JSONResponse(await run_in_threadpool(rights.step, body, _actor(request)))
        except RequestError as exc:
            return error(400, str(exc))

    @guarded
    async def list_holds(request: Request) -> Response:
        return JSONResponse({"holds": await run_in_threadpool(holds.active_holds, rights.store)})

    @guarded
    async def change_hold(request: Request) -> Response:
        data = await json_object(request)
        platform, account, reason = (str(data.get(k, "")) for k in ("platform", "account_id", "reason"))
        if not platform or not account or (not data.get("lift") and not reason):
            return error(400, "a hold needs platform, account_id and (to place it) its reason")
        actor, now = _actor(request), rights.clock()
        if data.get("lift"):
            lifted = await run_in_threadpool(holds.lift, rights.store, platform, account, actor.account_id, now)
            return JSONResponse({"lifted": lifted})
        rows = await run_in_threadpool(holds.place, rights.store, rights.register, platform, account, reason,
                                       actor.account_id, now)  # fmt: skip
        return JSONResponse({"placed": True, "rows_kept": rows})

    @guarded
    async def run_retention(request: Request) -> Response:
        data = await json_object(request)
        dry_run = data.get("dry_run") is True
        report = await run_in_threadpool(lambda: retention.run(rights.store, rights.settings, rights.clock(),
                                                               dry_run=dry_run))  # fmt: skip
        return JSONResponse({"dry_run": dry_run, **report.as_dict()})

    @guarded
    async def apply_retention(request: Request) -> Response:
        data = await json_object(request)
        dry_run = data.get("dry_run") is True
        changes = await run_in_threadpool(lambda: retention.apply(rights.store, rights.settings, dry_run=dry_run))
        return JSONResponse({"dry_run": dry_run, "changes": [asdict(c) for c in changes]})

    return [
        Route("/v1/retention/run", run_retention, methods=["POST"]),
        Route("/v1/retention/apply", apply_retention, methods=["POST"]),
        Route("/v1/subjects/requests", list_requests, methods=["GET"]),
        Route("/v1/subjects/requests", request_step, methods=["POST"]),
        Route("/v1/subjects/{action}", subject_action, methods=["POST"]),
        Route("/v1/retention/holds", list_holds, methods=["GET"]),
        Route("/v1/retention/holds", change_hold, methods=["POST"]),
    ]
