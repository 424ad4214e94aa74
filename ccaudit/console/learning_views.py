"""The learning_manager's console page: a learner's progress per module and lesson, the eligibility
for a follow-up module with the whole explained tree, and a waiver form.

A thin view over the functions the API calls (``ccaudit.learning.eligibility``): the same
organisation bounds (a learner of another organisation is "not found"), the same access record of
the read, the same audit event for a waiver or a granted answer.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ccaudit.access.roles import Permission
from ccaudit.console.pages import Pages, Visitor
from ccaudit.learning.eligibility import Eligibility, Forbidden, NotFound
from ccaudit.search import access_log
from ccaudit.store.learning import learner_profile, learner_state
from ccaudit.store.restricted import LEARNING_PURPOSES, restriction_of
from ccaudit.store.tokens import InvalidPlatform, check_platform

_MAX = 256


class LearningViews:
    def __init__(self, pages: Pages, eligibility: Eligibility) -> None:
        self.pages = pages
        self.eligibility = eligibility

    async def page(self, request: Request) -> Response:
        query = request.query_params
        return await self._page(request, query.get("platform", ""), query.get("learner", ""), query.get("module", ""))

    async def waive(self, request: Request) -> Response:
        form: dict[str, str] = request.state.form
        platform, learner, module = (form.get(k, "")[:_MAX] for k in ("platform", "learner", "module"))
        reason = form.get("reason", "").strip()[:1024]
        visitor: Visitor = request.state.visitor
        if not (platform and learner and module and reason):
            return await self._page(request, platform, learner, module, ("bad_input", {}), 400)
        try:
            await run_in_threadpool(self.eligibility.waive, visitor.principal, check_platform(platform), learner,
                                    module, reason, "")  # fmt: skip
        except (NotFound, Forbidden, InvalidPlatform):
            return self.pages.problem(request, 404, "not_found_title", "not_found_text")
        message = ("waiver_granted", {"module": module, "learner": learner})
        return await self._page(request, platform, learner, module, message)

    async def _page(
        self, request: Request, platform: str, learner: str, module: str,
        message: tuple[str, dict[str, str]] | None = None, status: int = 200,
    ) -> Response:  # fmt: skip
        visitor: Visitor = request.state.visitor
        who = visitor.principal
        platform, learner, module = platform.strip()[:63], learner.strip()[:_MAX], module.strip()[:_MAX]
        context: dict[str, Any] = {"platform": platform, "learner": learner, "module": module, "states": [],
                                   "decision": None, "no_module": False, "csrf": visitor.session.csrf_token,
                                   "message": message, "may_waive": who.may(Permission.LEARNING_WAIVE),
                                   "searched": bool(platform and learner), "restricted": None}  # fmt: skip
        if platform and learner:
            try:
                platform = check_platform(platform)
            except InvalidPlatform:
                return self.pages.render(request, "learning.html", 400, **{**context, "message": ("bad_input", {})})
            store = self.eligibility.store
            states = await run_in_threadpool(learner_state, store.client, store.database, platform, learner)
            profile = await run_in_threadpool(learner_profile, store.client, store.database, platform, learner)
            visible = bool(states) and (who.organisations is None or profile.organisation in who.organisations)
            # A restricted learner's data is kept but not used (GDPR art. 18, 21): not shown either.
            why = await run_in_threadpool(restriction_of, store.client, store.database, learner, LEARNING_PURPOSES)
            context["restricted"] = why if visible else None
            if visible and why is None:
                context["states"] = states
            if module:
                try:
                    decision = await run_in_threadpool(self.eligibility.decide, who, platform, learner, module)
                    context["decision"] = decision
                    context["tree"] = decision.outcome.as_dict() if decision.outcome is not None else None
                except NotFound:
                    context["no_module"] = (
                        module not in (await run_in_threadpool(self.eligibility.catalogues.current)).modules
                    )
            # Staff seeing a learner's progress is a read of personal data (R6): recorded first.
            filters = json.dumps({"platform": platform, "learner": learner, "module": module})
            await run_in_threadpool(access_log.record, store, who, "/console/learning", "detail", filters,
                                    len(context["states"]))  # fmt: skip
        return self.pages.render(request, "learning.html", status, **context)
