"""The Flask kit as a learning platform, end to end over real HTTP between processes: gunicorn (two
workers, --preload) → ``record_learning`` → recorder → service; the follow-up module's page asks the
service with a platform read token and shows the learner what is missing, or opens.

Two learners of the kit: bob finishes the lessons, carol gets a waiver from a learning manager."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import httpx
import pytest

from tests.conftest import Proc, Service, clean_env, free_port, gunicorn_args, start_process, stop_process, wait_until
from tests.e2e.test_kit_e2e import login

pytestmark = pytest.mark.e2e

CATALOGUE = Path(__file__).parents[2] / "middleware" / "flask_kit" / "catalogue.json"


@pytest.fixture(scope="module")
def learning_kit(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """The kit's catalogue published at the service, a platform read token with the eligibility scope,
    and the Flask kit holding it."""
    operator = {"Authorization": f"Bearer {service.personal_token('operator')}"}
    current = httpx.get(service.url + "/v1/learning/catalogue", headers=operator, timeout=10).json()
    modules = {**current["modules"], **json.loads(CATALOGUE.read_text())["modules"]}
    published = httpx.put(service.url + "/v1/learning/catalogue", headers=operator, timeout=10,
                          json={"version": current["version"] + 1, "modules": modules})  # fmt: skip
    assert published.status_code == 201, published.text
    made = httpx.post(service.url + "/v1/admin/read-tokens", headers={"Authorization": f"Bearer {service.token}"},
                      json={"platform": "learning", "scopes": ["eligibility:read"]}, timeout=10)  # fmt: skip
    assert made.status_code == 201, made.text
    folder = tmp_path_factory.mktemp("learning_kit")
    port = free_port()
    env = clean_env(
        CCAUDIT_SERVICE_URL=service.url,
        CCAUDIT_FLUSH_INTERVAL="0.05",
        CCAUDIT_SPOOL_PATH=str(folder / "spool.sqlite3"),
        CCAUDIT_INGEST_TOKEN=service.ingest_token("learning"),
        FLASK_KIT_ELIGIBILITY_TOKEN=made.json()["token"],
    )
    proc = start_process(gunicorn_args("middleware.flask_kit.app:app", port), env, f"http://127.0.0.1:{port}",
                         folder / "log")  # fmt: skip
    yield proc
    assert stop_process(proc) == 0, proc.output()


def follow_up(client: httpx.Client, language: str = "en") -> httpx.Response:
    return client.get("/learn/privacy-201", headers={"Accept-Language": language})


def test_lessons_finished_open_the_follow_up_module_in_the_next_request(learning_kit: Proc, service: Service) -> None:
    bob = login(learning_kit, "bob")
    locked = follow_up(bob, "nl")
    assert locked.status_code == 403, locked.text
    text = unescape(locked.text)
    assert "Nog niet beschikbaar" in text
    # What is missing, in the learner's language: the basics module, or a waiver.
    assert "module privacy-101 (moveOn): 0 van 3 verplichte lessen voldaan" in text, text
    assert "vrijstelling" in text

    for lesson in ("intro", "cases"):
        assert bob.post(f"/learn/privacy-101/{lesson}").status_code == 303
    assert bob.post("/learn/privacy-101/quiz", data={"score": "0.3"}).status_code == 303  # failed
    still = unescape(follow_up(bob).text)
    assert "module privacy-101 (moveOn): 2 of 3 required lessons met" in still, still

    # Each step is its own request, answered before the next: the pass counts in the very next answer.
    assert bob.post("/learn/privacy-101/quiz", data={"score": "0.9"}).status_code == 303
    opened = follow_up(bob)
    assert opened.status_code == 200, opened.text
    assert "You may follow this module." in opened.text
    assert "Workshop: a processing register" in opened.text

    # The grant is an audit event of the platform, stored by the service within its flush interval.
    wait_until(lambda: service.events(platform="learning", action="learning.eligibility.granted", subject="bob"))


def test_a_waiver_from_a_learning_manager_opens_the_module(learning_kit: Proc, service: Service) -> None:
    carol = login(learning_kit, "carol")
    assert follow_up(carol).status_code == 403
    manager = {"Authorization": f"Bearer {service.personal_token('learning_manager', ('opleidingen-b',))}"}
    waived = httpx.post(service.url + "/v1/eligibility/waivers", headers=manager, timeout=10,
                        json={"platform": "learning", "learner": "carol", "module": "privacy-201",
                              "reason": "followed the same course elsewhere", "organisation": "opleidingen-b"})  # fmt: skip
    assert waived.status_code == 201, waived.text
    opened = follow_up(carol, "fr")
    assert opened.status_code == 200, opened.text
    assert "Vous pouvez suivre ce module." in opened.text


def test_without_a_token_the_page_says_access_cannot_be_checked(service: Service, tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(CCAUDIT_SERVICE_URL=service.url, CCAUDIT_SPOOL_PATH=str(tmp_path / "spool.sqlite3"),
                    CCAUDIT_INGEST_TOKEN=service.ingest_token("learning"))  # fmt: skip
    args = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "middleware.flask_kit.app:app"]
    proc = start_process(args, env, f"http://127.0.0.1:{port}", tmp_path / "log")
    try:
        answer = follow_up(login(proc, "bob"))
        assert answer.status_code == 503
        assert "Access cannot be checked right now" in answer.text
    finally:
        assert stop_process(proc) == 0, proc.output()
