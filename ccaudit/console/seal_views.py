"""The auditor's console page for tamper evidence: the sealer's state, each chain's latest seal, and
a verification run with its findings, counts and what ccaudit itself changed (erasure, retention).

A thin view over what ``GET /v1/verify`` calls (ccaudit.seal.service.Sealing.verify), with the same
parameters checked the same way. The page only reads, through GET (no form changes anything, so no
CSRF token is needed); it shows row ids, seal numbers and hashes, no personal data. A verification
runs only when asked for (``run``): it reads every sealed row.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ccaudit.console.pages import Pages
from ccaudit.seal import canonical as cf
from ccaudit.seal.service import Sealing
from ccaudit.seal.verify import TrustedHead
from ccaudit.service import params

# Trusted heads pasted into the form: as many as a deployment's chains, with room.
_MAX_HEADS = 200


class SealViews:
    def __init__(self, pages: Pages, sealing: Sealing) -> None:
        self.pages = pages
        self.sealing = sealing

    async def page(self, request: Request) -> Response:
        query = request.query_params
        form = {k: query.get(k, "").strip() for k in ("platform", "stream", "since", "until", "heads")}
        context: dict[str, Any] = {
            "form": form,
            "streams": sorted(cf.STREAMS),
            "sealer": self.sealing.status(),
            "chains": await run_in_threadpool(self.sealing.latest_seals),
            "report": None,
            "problem": None,
        }
        if "run" not in query:
            return self.pages.render(request, "verify.html", **context)
        try:
            platform = params.text("platform", form["platform"] or None, 64)
            stream = form["stream"] or None
            if stream is not None and stream not in cf.STREAMS:
                raise params.BadParameter("stream", f"one of {', '.join(sorted(cf.STREAMS))}")
            since = params.iso_time("since", form["since"] or None)
            until = params.iso_time("until", form["until"] or None)
            lines = [h.strip() for h in form["heads"].replace(",", "\n").splitlines() if h.strip()]
            if len(lines) > _MAX_HEADS:
                raise params.BadParameter("heads", f"at most {_MAX_HEADS}")
            heads = []
            for line in lines:
                try:
                    heads.append(TrustedHead.parse(line))
                except ValueError as exc:
                    raise params.BadParameter("heads", str(exc)) from None
        except params.BadParameter as exc:
            context["problem"] = exc
            return self.pages.render(request, "verify.html", 400, **context)
        report = await run_in_threadpool(self.sealing.verify, platform, stream, since, until, heads)
        context["report"] = report
        context["details"] = [_detail(f) for f in report.findings]
        return self.pages.render(request, "verify.html", **context)


def _detail(finding: dict[str, Any]) -> str:
    """A finding's other fields, as ``name value`` pairs (the CLI prints them alike)."""
    skip = ("kind", "platform", "stream", "seq", "row_id")
    return ", ".join(f"{k} {v}" for k, v in finding.items() if k not in skip)
