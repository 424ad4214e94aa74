"""Read your writes, end to end over real HTTP: a learner finishes the lessons on the platform and the
very next eligibility answer counts them, although the events are still in the platform's recorder
(its threads sleep for a minute here: only the eligibility client's settling delivers them).

A real ``ccaudit serve`` process; the platform is a real ASGI app with the capture middleware, the
real recorder, a real spool and the HTTP transport.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ccaudit import CaptureMiddleware, Identity, Settings, record_learning
from ccaudit.events import LearningEvent
from ccaudit.ids import new_id
from ccaudit.learning.client import EligibilityClient, NotSettled
from ccaudit.shipping.recorder import Recorder
from ccaudit.shipping.spool import Spool
from ccaudit.shipping.transport import HttpTransport
from tests.capture.test_durable_routes import Down
from tests.conftest import Service

CATALOGUE = {
    "modules": {
        "ryw-basics": {"lessons": [{"id": "intro"}, {"id": "quiz", "move_on": "Passed"}]},
        "ryw-advanced": {"lessons": [{"id": "a1"}], "rule": {"kind": "module", "module": "ryw-basics"}},
    }
}


@pytest.fixture(scope="module")
def eligibility_token(service: Service) -> str:
    """A platform read token for coop with the eligibility scope, and the catalogue published."""
    operator = {"Authorization": f"Bearer {service.personal_token('operator')}"}
    current = httpx.get(service.url + "/v1/learning/catalogue", headers=operator, timeout=10).json()
    modules = {**current["modules"], **CATALOGUE["modules"]}
    published = httpx.put(service.url + "/v1/learning/catalogue", headers=operator, timeout=10,
                          json={"version": current["version"] + 1, "modules": modules})  # fmt: skip
    assert published.status_code == 201, published.text
    made = httpx.post(service.url + "/v1/admin/read-tokens", headers={"Authorization": f"Bearer {service.token}"},
                      json={"platform": "coop", "scopes": ["eligibility:read"]}, timeout=10)  # fmt: skip
    assert made.status_code == 201, made.text
    token: str = made.json()["token"]
    return token


@pytest.fixture
def recorder(service: Service, tmp_path: Path) -> Iterator[Recorder]:
    spool = Spool(tmp_path / "spool.sqlite3")
    transport = Gated(HttpTransport(service.url, token=service.ingest_token("coop")))
    # A minute between the recorder's rounds; a shipper's first pass may still come at any time after
    # its thread starts, so a test that must see what the service has not received holds the gate.
    recorder = Recorder(transport, platform="coop", spool=spool, flush_interval=60)
    yield recorder
    recorder.shutdown(5)
    spool.close()


class Gated:
    """A transport that holds each send while the gate is closed (open unless a test closes it)."""

    def __init__(self, inner: HttpTransport) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.gate.set()

    def send(self, payload: bytes) -> None:
        self.gate.wait(30)
        self.inner.send(payload)


def platform(recorder: Recorder, client: EligibilityClient) -> CaptureMiddleware:
    async def done(request: Request) -> Response:
        learner, lesson = request.path_params["learner"], request.path_params["lesson"]
        verb = "passed" if lesson == "quiz" else "completed"
        record_learning(verb, learner=learner, module="ryw-basics", lesson=lesson, profession="teacher",
                        score=0.9 if verb == "passed" else None)  # fmt: skip
        return JSONResponse({"ok": True})

    async def open_module(request: Request) -> Response:
        if "then" in request.query_params:  # the same request records the last lesson and asks
            record_learning("passed", learner=request.path_params["learner"], module="ryw-basics", lesson="quiz",
                            score=1.0)  # fmt: skip
        answer = await run_in_threadpool(client.check, request.path_params["learner"], "ryw-advanced")
        return JSONResponse(answer)

    app = Starlette(routes=[
        Route("/learners/{learner}/lessons/{lesson}/done", done, methods=["POST"]),
        Route("/learners/{learner}/advanced", open_module, methods=["GET", "POST"]),
    ])  # fmt: skip
    settings = Settings(platform="coop", flush_interval=60)
    return CaptureMiddleware(app, settings, resolver=lambda scope: Identity(organisation="org-a"), recorder=recorder)


def visit(app: Any, method: str, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://platform") as client:
            return await client.request(method, path)

    return asyncio.run(go())


def test_lessons_reported_in_one_request_count_in_the_next_answer(
    service: Service, eligibility_token: str, recorder: Recorder
) -> None:
    client = EligibilityClient(service.url, eligibility_token, recorder)
    app = platform(recorder, client)
    gate = recorder.transport.gate  # type: ignore[attr-defined]
    gate.clear()  # nothing reaches the service before the answer is asked for
    learner = f"ryw-{uuid.uuid4().hex[:8]}"
    assert visit(app, "POST", f"/learners/{learner}/lessons/intro/done").status_code == 200
    assert visit(app, "POST", f"/learners/{learner}/lessons/quiz/done").status_code == 200
    # Asked without settling, the service has not seen them: they are in the platform's spool.
    direct = httpx.get(f"{service.url}/v1/eligibility/{learner}/ryw-advanced", timeout=10,
                       headers={"Authorization": f"Bearer {eligibility_token}"})  # fmt: skip
    assert direct.json()["eligible"] is False
    gate.set()  # the service may now receive what the client settles
    answer = visit(app, "GET", f"/learners/{learner}/advanced").json()
    assert answer["eligible"] is True
    assert answer["missing"] is None


def test_a_lesson_reported_in_the_request_that_asks_counts_too(
    service: Service, eligibility_token: str, recorder: Recorder
) -> None:
    client = EligibilityClient(service.url, eligibility_token, recorder)
    app = platform(recorder, client)
    learner = f"ryw-{uuid.uuid4().hex[:8]}"
    visit(app, "POST", f"/learners/{learner}/lessons/intro/done")
    assert visit(app, "GET", f"/learners/{learner}/advanced").json()["eligible"] is False
    answer = visit(app, "POST", f"/learners/{learner}/advanced?then=quiz").json()
    assert answer["eligible"] is True
    stats = recorder.stats()
    # Two learning events, each kept once: the quiz by the client, not again when the request ended.
    assert (stats["kept"], stats["emitted"]) == (2, 0)


def test_an_answer_that_could_be_stale_is_not_given(tmp_path: Path) -> None:
    """The service is down: what the platform recorded cannot be delivered, so no answer is given
    rather than one that may not count it."""
    spool = Spool(tmp_path / "spool.sqlite3")
    recorder = Recorder(Down(), platform="coop", spool=spool, flush_interval=60)
    try:
        client = EligibilityClient("http://127.0.0.1:9", "ccr_x", recorder, flush_timeout=0.5)
        assert recorder.keep([learning_event()])
        with pytest.raises(NotSettled):
            client.check("ryw-down", "ryw-advanced")
    finally:
        recorder.shutdown(1)
        spool.close()


def learning_event() -> LearningEvent:
    return LearningEvent(new_id(), 0, "completed", "ryw-down", "org-a", "ryw-basics", "intro", "", "", None, None,
                         None, None, "")  # fmt: skip
