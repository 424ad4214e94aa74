"""The DPO's console pages of data-subject requests: thin views over ``ccaudit.rights.actions.Rights``,
the functions the API (``/v1/subjects/*``) and the command line call, so every step is the same audit
event whichever way it is taken.

``/console/requests`` lists the requests, overdue ones first, and registers a new one (kind, when it
was received, the requester's account and platform, and optionally the identity check: who and how,
never a copy of a document). ``/console/requests/{id}`` shows one request and its forms: verify the
identity, extend the deadline (with a reason, two more months at most in all), run the request
(export as a download, erase per purpose or entirely, restrict or lift, object, rectify) and close it
(done or refused, with the answer). Work on the subject's data waits until the identity is verified
(art. 12(6)): an export sent to someone who only claims to be the subject would itself be a breach.
Every form carries the session's CSRF token (``guard.py``).
"""

from __future__ import annotations

import io
import time
import zipfile
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ccaudit.console.pages import Pages, Visitor, secure
from ccaudit.register import PURPOSES
from ccaudit.rights.actions import Actor, Rights, StepBody, SubjectBody
from ccaudit.rights.erase import HeldError
from ccaudit.rights.export import to_csv
from ccaudit.rights.requests import KINDS, RequestError, Requests, SubjectRequest
from ccaudit.store.tables import PERSONAL_DATA_TABLES

# Table.column pairs a request may rectify, as the tables declare them.
RECTIFIABLE = tuple(f"{t.name}.{c}" for t in PERSONAL_DATA_TABLES for c in t.rectifiable_columns)
Message = tuple[str, dict[str, str]]


def _now() -> datetime:
    return datetime.fromtimestamp(time.time(), UTC)


def _actor(request: Request) -> Actor:
    visitor: Visitor = request.state.visitor
    role = visitor.principal.role.value if visitor.principal.role is not None else visitor.principal.kind
    return Actor(visitor.account.account_id, role)


def _received(value: str, now: datetime) -> datetime | None:
    """A received date (YYYY-MM-DD, not after today): at noon UTC, so that it is that day everywhere in
    Europe, or now if that is earlier (a request received this morning is not received in the future)."""
    if not value:
        return None
    day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    if day.date() > now.date():
        raise ValueError("a request cannot be received in the future")
    return min(day.replace(hour=12), now)


class RequestViews:
    def __init__(self, pages: Pages, rights: Rights) -> None:
        self.pages = pages
        self.rights = rights

    # --- the list, and registering a request --------------------------------------------------------

    async def list_page(
        self, request: Request, status: int = 200, message: Message | None = None, bad: str | None = None,
        entered: dict[str, str] | None = None,
    ) -> Response:  # fmt: skip
        """The requests, overdue ones first, and the form that registers one."""
        now = _now()
        found = await run_in_threadpool(Requests(self.rights.store).list)
        rows = sorted(found, key=lambda r: (not r.overdue(now), r.due_at))
        shown = [{"r": r, "overdue": r.overdue(now)} for r in rows]
        visitor: Visitor = request.state.visitor
        entered = entered or {"kind": "export", "received": now.date().isoformat(), "account_id": "", "platform": "",
                              "by": "", "how": ""}  # fmt: skip
        return self.pages.render(request, "requests.html", status, requests=shown, kinds=sorted(KINDS),
                                 csrf=visitor.session.csrf_token, message=message, bad=bad, entered=entered,
                                 today=now.date().isoformat())  # fmt: skip

    async def list(self, request: Request) -> Response:
        return await self.list_page(request)

    async def register(self, request: Request) -> Response:
        form: dict[str, str] = request.state.form
        entered = {k: form.get(k, "")[:500] for k in ("kind", "received", "account_id", "platform", "by", "how")}
        actor = _actor(request)
        try:
            received = _received(entered["received"], _now())
        except ValueError:
            return await self.list_page(request, 400, bad="received", entered=entered)
        if not entered["account_id"].strip():
            return await self.list_page(request, 400, bad="account_id", entered=entered)
        if entered["by"].strip() and not entered["how"].strip():
            return await self.list_page(request, 400, bad="how", entered=entered)
        try:
            body = StepBody(step="receive", kind=entered["kind"], account_id=entered["account_id"].strip()[:256],
                            platform=entered["platform"].strip()[:256], received_at=received)  # fmt: skip
            made = await run_in_threadpool(self.rights.step, body, actor)
            if entered["how"].strip():
                check = StepBody(step="verify", request_id=made["request_id"], by=entered["by"].strip()[:256],
                                 how=entered["how"].strip())  # fmt: skip
                await run_in_threadpool(self.rights.step, check, actor)
        except (ValidationError, RequestError) as exc:
            bad = "received" if "future" in str(exc) else "kind"
            return await self.list_page(request, 400, bad=bad, entered=entered)
        return secure(RedirectResponse(f"/console/requests/{made['request_id']}?done=registered", 303))

    # --- one request ----------------------------------------------------------------------------------

    async def _find(self, request: Request) -> SubjectRequest | None:
        request_id = request.path_params["request_id"][:64]
        try:
            return await run_in_threadpool(Requests(self.rights.store).get, request_id)
        except RequestError:
            return None

    async def detail_page(
        self, request: Request, found: SubjectRequest, status: int = 200, message: Message | None = None,
        error: Message | None = None, result: dict[str, Any] | None = None,
    ) -> Response:  # fmt: skip
        visitor: Visitor = request.state.visitor
        done = request.query_params.get("done")
        if message is None and done in ("registered", "verified", "extended", "closed"):
            message = (f"request_{done}", {"request": found.request_id})
        now = _now()
        return self.pages.render(
            request, "request.html", status, r=found, overdue=found.overdue(now), csrf=visitor.session.csrf_token,
            message=message, error=error, result=result, purposes=sorted(PURPOSES), rectifiable=RECTIFIABLE,
            open=found.status not in ("done", "refused"), verified=found.status == "verified",
        )  # fmt: skip

    async def detail(self, request: Request) -> Response:
        found = await self._find(request)
        if found is None:
            return self.pages.problem(request, 404, "not_found_title", "not_found_text")
        return await self.detail_page(request, found)

    async def _step(self, request: Request, body: dict[str, Any], done: str) -> Response:
        found = await self._find(request)
        if found is None:
            return self.pages.problem(request, 404, "not_found_title", "not_found_text")
        try:
            step = StepBody(request_id=found.request_id, **body)
            await run_in_threadpool(self.rights.step, step, _actor(request))
        except (ValidationError, RequestError, ValueError) as exc:
            return await self.detail_page(request, found, 400, error=("request_refused", {"why": _why(exc)}))
        return secure(RedirectResponse(f"/console/requests/{found.request_id}?done={done}", 303))

    async def verify(self, request: Request) -> Response:
        form: dict[str, str] = request.state.form
        return await self._step(request, {"step": "verify", "by": form.get("by", "")[:256].strip(),
                                          "how": form.get("how", "")[:500]}, "verified")  # fmt: skip

    async def extend(self, request: Request) -> Response:
        form: dict[str, str] = request.state.form
        months = 2 if form.get("months") == "2" else 1
        return await self._step(request, {"step": "extend", "months": months, "reason": form.get("reason", "")[:2000]},
                                "extended")  # fmt: skip

    async def close(self, request: Request) -> Response:
        form: dict[str, str] = request.state.form
        step = "refuse" if form.get("outcome") == "refuse" else "done"
        return await self._step(request, {"step": step, "answer": form.get("answer", "")[:2000]}, "closed")

    # --- the rights, run from the request -------------------------------------------------------------

    async def _subject_action(self, request: Request, run: str, extra: dict[str, Any]) -> Response:
        found = await self._find(request)
        if found is None:
            return self.pages.problem(request, 404, "not_found_title", "not_found_text")
        if found.status != "verified":
            return await self.detail_page(request, found, 409, error=("request_not_verified", {}))
        try:
            body = SubjectBody(account_id=found.account_id, platform=found.platform or None,
                               request_id=found.request_id, **extra)  # fmt: skip
            operation = {"export": self.rights.export, "erase": self.rights.erase, "restrict": self.rights.restrict,
                         "object": self.rights.object_, "rectify": self.rights.rectify}[run]  # fmt: skip
            result = await run_in_threadpool(operation, body, _actor(request))
        except HeldError:
            return await self.detail_page(request, found, 409, error=("request_held", {}))
        except (ValidationError, ValueError) as exc:
            return await self.detail_page(request, found, 400, error=("request_refused", {"why": _why(exc)}))
        if run == "export":
            return _download(found.request_id, result)
        return await self.detail_page(request, found, message=(f"request_ran_{run}", {}), result=result)

    async def export(self, request: Request) -> Response:
        return await self._subject_action(request, "export", {})

    async def erase(self, request: Request) -> Response:
        purpose = request.state.form.get("purpose", "")
        return await self._subject_action(request, "erase", {"purpose": purpose or None})

    async def restrict(self, request: Request) -> Response:
        return await self._subject_action(request, "restrict", {"lift": request.state.form.get("lift") == "1"})

    async def object_(self, request: Request) -> Response:
        form: dict[str, str] = request.state.form
        return await self._subject_action(request, "object", {
            "purpose": form.get("purpose") or None, "accept": form.get("accept") != "0",
            "grounds": form.get("grounds", "")[:2000],
        })  # fmt: skip

    async def rectify(self, request: Request) -> Response:
        form: dict[str, str] = request.state.form
        target = form.get("field", "")
        if target not in RECTIFIABLE:
            found = await self._find(request)
            if found is None:
                return self.pages.problem(request, 404, "not_found_title", "not_found_text")
            return await self.detail_page(request, found, 400, error=("request_refused", {"why": "field"}))
        table, column = target.split(".", 1)
        return await self._subject_action(request, "rectify", {"table": table, "column": column,
                                                               "value": form.get("value", "")[:2048]})  # fmt: skip


def _why(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return ", ".join(str(e["loc"][-1]) for e in exc.errors() if e["loc"]) or "input"
    return str(exc)[:300]


def _download(request_id: str, document: dict[str, Any]) -> Response:
    """The export as a zip: export.json (manifest and rows) and one CSV per table."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.json", orjson.dumps(document, option=orjson.OPT_INDENT_2))
        for name, rows in document["tables"].items():
            archive.writestr(f"{name}.csv", to_csv(rows))
    response = Response(buffer.getvalue(), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="export-{request_id}.zip"',
        # Personal data: kept by no cache on the way.
        "Cache-Control": "no-store",
    })  # fmt: skip
    return secure(response)
