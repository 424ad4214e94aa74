"""The DPO's routes, in-process on the real engine: a subject's export and erasure through the API,
restriction enforced by the read API's routes, request steps with their deadlines, legal holds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ccaudit.rights.requests import RequestError, Requests, add_months
from ccaudit.service.app import create_app
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.conftest import days_ago_ms, personal_headers
from tests.service.test_observability import call

ADMIN = "admin-secret-of-the-rights-api-test"


def _audit(actor: str, subject: str = "") -> dict[str, Any]:
    return {"stream": "audit", "event_id": str(uuid.uuid4()), "event_time": days_ago_ms(1), "actor_account_id": actor,
            "subject_id": subject, "action": "person.view", "outcome": "success", "client_ip": "192.0.2.7"}  # fmt: skip


def test_the_dpo_exports_restricts_and_erases_through_the_api(store: Store) -> None:
    app = create_app(Settings(admin_token=ADMIN, retention_interval_minutes=0), store)
    token, _ = app.state.tokens.create("coop")
    events = [_audit("acct-api"), _audit("admin-x", "acct-api"), _audit("acct-else")]
    batch = {"schema_version": 1, "batch_id": str(uuid.uuid4()), "platform": "coop", "events": events}
    assert call(app, "POST", "/v1/events", json=batch, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    dpo = personal_headers(store, "dpo")
    auditor = personal_headers(store, "auditor")
    body = {"account_id": "acct-api", "request_id": "req-api"}

    exported = call(app, "POST", "/v1/subjects/export", json=body, headers=dpo)
    assert exported.status_code == 200, exported.text
    assert {r["event_id"] for r in exported.json()["tables"]["audit_events"]} == {e["event_id"] for e in events[:2]}
    assert call(app, "POST", "/v1/subjects/export", json=body, headers=auditor).status_code == 403

    assert call(app, "POST", "/v1/subjects/restrict", json=body, headers=dpo).status_code == 200
    listed = call(app, "GET", "/v1/audit/events", params={"platform": "coop"}, headers=auditor).json()["events"]
    assert [e["event_id"] for e in listed] == [events[2]["event_id"]]
    detail = call(app, "GET", f"/v1/audit/events/{events[0]['event_id']}", headers=auditor)
    assert detail.status_code == 404
    exported_csv = call(app, "GET", "/v1/audit/export", params={"format": "jsonl", "q": "platform:coop"},
                        headers=auditor)  # fmt: skip
    assert events[0]["event_id"] not in exported_csv.text
    assert events[2]["event_id"] in exported_csv.text

    hold = {"platform": "coop", "account_id": "acct-api", "reason": "pending claim"}
    assert call(app, "POST", "/v1/retention/holds", json=hold, headers=dpo).json()["placed"] is True
    assert call(app, "POST", "/v1/subjects/erase", json=body, headers=dpo).status_code == 409
    assert call(app, "POST", "/v1/retention/holds", json={**hold, "lift": True}, headers=dpo).json()["lifted"]
    erased = call(app, "POST", "/v1/subjects/erase", json=body, headers=dpo)
    assert erased.status_code == 200, erased.text
    assert erased.json()["tables"]["audit_events"] == {"action": "pseudonymise", "rows": 2}
    assert call(app, "POST", "/v1/subjects/nothing", json=body, headers=dpo).status_code == 404
    planned = call(app, "POST", "/v1/retention/run", json={"dry_run": True}, headers=dpo).json()
    assert planned["dry_run"] is True
    assert planned["accounts"] == 0  # everyone here was active yesterday
    assert call(app, "POST", "/v1/retention/apply", json={}, headers=dpo).json()["changes"] == []


def test_request_steps_and_deadlines(store: Store) -> None:
    app = create_app(Settings(admin_token=ADMIN, retention_interval_minutes=0), store)
    dpo = personal_headers(store, "dpo")
    auditor = personal_headers(store, "auditor")
    made = call(app, "POST", "/v1/subjects/requests", json={"step": "receive", "kind": "erase", "account_id": "a-1"},
                headers=dpo).json()  # fmt: skip
    assert made["status"] == "received"
    assert made["overdue"] is False
    rid = made["request_id"]
    refused = call(app, "POST", "/v1/subjects/requests", json={"step": "done", "request_id": rid}, headers=dpo)
    assert refused.status_code == 400  # not verified yet
    verified = call(app, "POST", "/v1/subjects/requests",
                    json={"step": "verify", "request_id": rid, "how": "video call, name and date of birth"},
                    headers=dpo).json()  # fmt: skip
    assert verified["status"] == "verified"
    assert verified["verified_how"] == "video call, name and date of birth"
    too_long = call(app, "POST", "/v1/subjects/requests",
                    json={"step": "extend", "request_id": rid, "months": 3, "reason": "complex"}, headers=dpo)  # fmt: skip
    assert too_long.status_code == 400

    # Overdue is judged against the clock: a request received five weeks ago and not done.
    requests = Requests(store)
    old = requests.receive("export", "a-2", "coop", datetime.now(UTC) - timedelta(days=35))
    listed = {r["request_id"]: r for r in call(app, "GET", "/v1/subjects/requests", headers=dpo).json()["requests"]}
    assert listed[old.request_id]["overdue"] is True
    assert listed[rid]["overdue"] is False
    answer = call(app, "GET", "/v1/audit/events", params={"platform": "ccaudit"}, headers=auditor)
    assert answer.status_code == 200, answer.text
    steps = answer.json()["events"]
    assert {"subject.request.receive", "subject.request.verify"} <= {e["action"] for e in steps}


def test_an_extension_is_at_most_two_more_months(store: Store) -> None:
    requests = Requests(store)
    received = datetime(2026, 1, 31, tzinfo=UTC)  # fixed date: the end of a month, whose next has fewer days
    request = requests.receive("erase", "a-3", "coop", received)
    assert request.due_at == datetime(2026, 2, 28, tzinfo=UTC)  # fixed date: one month after the above
    extended = requests.extend(request.request_id, 2, "many systems to search", received)
    assert extended.due_at == add_months(received, 3).replace(day=28)
    with pytest.raises(RequestError, match="two more months"):
        requests.extend(request.request_id, 1, "more", received)


@pytest.mark.parametrize("action", ["export", "erase", "restrict", "object", "rectify"])
def test_nothing_is_done_for_a_request_whose_identity_is_not_verified(store: Store, action: str) -> None:
    """Through the API as through the console: a tracked request's subject data is not touched (an
    export not handed out) until the requester's identity is verified. Then the same call works."""
    app = create_app(Settings(admin_token=ADMIN, retention_interval_minutes=0), store)
    token, _ = app.state.tokens.create("coop")
    batch = {"schema_version": 1, "batch_id": str(uuid.uuid4()), "platform": "coop", "events": [_audit("acct-unv")]}
    assert call(app, "POST", "/v1/events", json=batch, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    dpo = personal_headers(store, "dpo")
    rid = Requests(store).receive(action, "acct-unv", "coop", datetime.now(UTC)).request_id
    body: dict[str, Any] = {"account_id": "acct-unv", "request_id": rid, "purpose": "P5"}
    if action == "rectify":
        body = {**body, "table": "learning_state", "column": "profession", "value": "teacher"}
    refused = call(app, "POST", f"/v1/subjects/{action}", json=body, headers=dpo)
    assert refused.status_code == 409, refused.text
    assert "not verified" in refused.json()["error"]
    assert not any(e["action"] == f"subject.{action}" for e in _service_trail(app, store))
    Requests(store).verify(rid, "dpo-1", "identity card at the desk", datetime.now(UTC))
    done = call(app, "POST", f"/v1/subjects/{action}", json=body, headers=dpo)
    assert done.status_code == 200, done.text


def _service_trail(app: Any, store: Store) -> list[dict[str, Any]]:
    auditor = personal_headers(store, "auditor")
    return call(app, "GET", "/v1/audit/events", params={"platform": "ccaudit"}, headers=auditor).json()["events"]
