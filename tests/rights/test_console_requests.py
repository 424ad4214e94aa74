"""The DPO's console forms for data-subject requests, in process over the real engine: register a
request (received date, requester, identity check), verify, extend with a reason (two more months at
most), download the export, restrict, rectify, erase, close; every form needs the session's CSRF
token; nothing is done with the subject's data before the identity is verified; every step is in the
audit trail, naming the request only."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from ccaudit.access import AccountStore
from ccaudit.ingest import Ingestor
from ccaudit.rights.requests import Requests, add_months
from ccaudit.service.app import create_app
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.client import query_rows
from tests.conftest import days_ago_ms
from tests.console.browser import Client
from tests.learning.events import learning

PASSWORD = "a password long enough"
ACCOUNT = "acct-c4z"


def _audit(actor: str) -> dict[str, Any]:
    return {"stream": "audit", "event_id": str(uuid.uuid4()), "event_time": days_ago_ms(1), "organisation": "org1",
            "actor_account_id": actor, "action": "person.update", "outcome": "success",
            "client_ip": "203.0.113.41"}  # fmt: skip


@pytest.fixture
def app(store: Store) -> Starlette:
    Ingestor(Settings(), store).ingest({"schema_version": 1, "batch_id": str(uuid.uuid4()), "platform": "coop",
                                        "events": [_audit(ACCOUNT), _audit(ACCOUNT), _audit("acct-else"),
                                                   learning("completed", learner=ACCOUNT)]})  # fmt: skip
    return create_app(Settings(admin_token="admin-secret-of-request-forms", retention_interval_minutes=0), store)


def _login(app: Starlette, store: Store, role: str = "dpo") -> Client:
    username = f"{role}-{uuid.uuid4().hex[:6]}"
    account = AccountStore(store.client, store.database).create(username, role, [], PASSWORD)
    client = Client(app)
    assert client.login(username, PASSWORD).status_code == 303
    client.account_id = account.account_id  # type: ignore[attr-defined]
    return client


def _register(client: Client, **fields: str) -> str:
    csrf = client.csrf("/console/requests")
    form = {"csrf": csrf, "kind": "erase", "received": (datetime.now(UTC) - timedelta(days=3)).date().isoformat(),
            "account_id": ACCOUNT, "platform": "coop", "by": "", "how": "", **fields}  # fmt: skip
    answer = client.post("/console/requests", form)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.endswith("?done=registered")
    return location.split("/")[-1].split("?")[0]


def _trail(store: Store, request_id: str) -> list[str]:
    rows = query_rows(store.client, f"SELECT action FROM {store.database}.audit_events WHERE subject_id = "
                      "{s:String} ORDER BY event_time, action", {"s": f"request:{request_id}"})  # fmt: skip
    return [str(r[0]) for r in rows]


def test_a_request_from_registration_to_closure(app: Starlette, store: Store) -> None:
    client = _login(app, store)
    request_id = _register(client)
    page = client.get(f"/console/requests/{request_id}?done=registered")  # where the form led
    assert page.status_code == 200
    assert f"Request {request_id} registered." in page.text
    registered = Requests(store).get(request_id)
    received = datetime.now(UTC) - timedelta(days=3)
    assert registered.received_at.date() == received.date()
    assert registered.due_at == add_months(registered.received_at, 1)
    csrf = client.csrf(f"/console/requests/{request_id}")

    # Nothing is done with the subject's data before the identity is verified.
    refused = client.post(f"/console/requests/{request_id}/export", {"csrf": csrf})
    assert refused.status_code == 409
    assert "Verify the requester" in refused.text
    assert 'action="/console/requests/' + request_id + '/erase"' not in page.text

    done = client.post(f"/console/requests/{request_id}/verify",
                       {"csrf": csrf, "by": "helpdesk-2", "how": "identity card shown at the desk"})  # fmt: skip
    assert done.status_code == 303
    verified = Requests(store).get(request_id)
    assert (verified.status, verified.verified_by, verified.verified_how) == (
        "verified", "helpdesk-2", "identity card shown at the desk")  # fmt: skip

    # Extended by a month with its reason; two months more would pass the three in all.
    assert client.post(f"/console/requests/{request_id}/extend",
                       {"csrf": csrf, "months": "1", "reason": "many platforms to search"}).status_code == 303  # fmt: skip
    assert Requests(store).get(request_id).due_at == add_months(registered.received_at, 2)
    too_long = client.post(f"/console/requests/{request_id}/extend", {"csrf": csrf, "months": "2", "reason": "more"})
    assert too_long.status_code == 400
    assert "at most two more months" in too_long.text
    without_reason = client.post(f"/console/requests/{request_id}/extend", {"csrf": csrf, "months": "1", "reason": ""})
    assert without_reason.status_code == 400

    # The export is a download: a zip with the JSON document (manifest and rows) and a CSV per table.
    download = client.post(f"/console/requests/{request_id}/export", {"csrf": csrf})
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert download.headers["cache-control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    document = json.loads(archive.read("export.json"))
    counts = {m["table"]: m["rows"] for m in document["manifest"]}
    assert (counts["audit_events"], counts["learning_events"], counts["learning_state"]) == (2, 1, 1)
    assert archive.read("audit_events.csv").decode().count(ACCOUNT) == 2

    restricted = client.post(f"/console/requests/{request_id}/restrict", {"csrf": csrf})
    assert restricted.status_code == 200
    assert "The restriction is recorded." in restricted.text
    active = query_rows(store.client, f"SELECT count() FROM {store.database}.subject_restrictions FINAL "
                        "WHERE identifier = {a:String} AND active", {"a": ACCOUNT})  # fmt: skip
    assert active[0][0] == 1
    client.post(f"/console/requests/{request_id}/restrict", {"csrf": csrf, "lift": "1"})

    rectified = client.post(f"/console/requests/{request_id}/rectify",
                            {"csrf": csrf, "field": "learning_state.profession", "value": "student"})  # fmt: skip
    assert rectified.status_code == 200
    assert "The correction is made." in rectified.text
    not_declared = client.post(f"/console/requests/{request_id}/rectify",
                               {"csrf": csrf, "field": "audit_events.actor_role", "value": "x"})  # fmt: skip
    assert not_declared.status_code == 400

    erased = client.post(f"/console/requests/{request_id}/erase", {"csrf": csrf, "purpose": ""})
    assert erased.status_code == 200
    assert "<code>audit_events</code></th><td>pseudonymise</td><td>2</td>" in erased.text
    left = query_rows(store.client, f"SELECT count() FROM {store.database}.audit_events "
                      "WHERE actor_account_id = {a:String}", {"a": ACCOUNT})  # fmt: skip
    assert left[0][0] == 0

    closed = client.post(f"/console/requests/{request_id}/close",
                         {"csrf": csrf, "outcome": "done", "answer": "export sent, data erased"})  # fmt: skip
    assert closed.status_code == 303
    final = client.get(f"/console/requests/{request_id}")
    assert "This request is closed." in final.text
    assert "/close" not in final.text
    assert Requests(store).get(request_id).status == "done"

    # Every step is an audit event naming the request, never the person.
    steps = _trail(store, request_id)
    for action in ("subject.request.receive", "subject.request.verify", "subject.request.extend", "subject.export",
                   "subject.restrict", "subject.restrict.lift", "subject.rectify", "subject.erase",
                   "subject.request.done"):  # fmt: skip
        assert action in steps
    details = query_rows(store.client, f"SELECT details FROM {store.database}.audit_events WHERE subject_id = "
                         "{s:String}", {"s": f"request:{request_id}"})  # fmt: skip
    assert ACCOUNT not in str(details)


def test_registering_with_the_identity_check_and_refusals(app: Starlette, store: Store) -> None:
    client = _login(app, store)
    request_id = _register(
        client,
        kind="export",
        received=datetime.now(UTC).date().isoformat(),
        by="",
        how="known voice on a call-back to the number on file",
    )
    found = Requests(store).get(request_id)
    assert found.status == "verified"
    assert found.verified_by == client.account_id  # type: ignore[attr-defined]  # no one named: whoever registered
    assert found.verified_how == "known voice on a call-back to the number on file"
    # Received today (the form's default): at the latest now, never in the future, due a month on.
    assert found.received_at.date() == datetime.now(UTC).date()
    assert found.due_at == add_months(found.received_at, 1)
    csrf = client.csrf("/console/requests")
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    future = client.post("/console/requests", {"csrf": csrf, "kind": "export", "received": tomorrow,
                                               "account_id": ACCOUNT, "platform": "", "by": "", "how": ""})  # fmt: skip
    assert future.status_code == 400
    assert 'id="r-received" name="received" type="date" required max=' in future.text
    assert 'aria-invalid="true" aria-describedby="e-received"' in future.text
    nobody = client.post("/console/requests", {"csrf": csrf, "kind": "export", "received": "", "account_id": " ",
                                               "platform": "", "by": "", "how": ""})  # fmt: skip
    assert nobody.status_code == 400
    # The list shows the request, linked to its page.
    assert f'href="/console/requests/{request_id}"' in client.get("/console/requests").text


def test_every_form_needs_the_csrf_token_and_the_dpo_role(app: Starlette, store: Store) -> None:
    client = _login(app, store)
    request_id = _register(client)
    before = len(Requests(store).list())
    forms = {"": {"kind": "export", "received": "", "account_id": "x", "platform": "", "by": "", "how": ""},
             "/verify": {"by": "a", "how": "b"}, "/extend": {"months": "1", "reason": "r"}, "/export": {},
             "/erase": {"purpose": ""}, "/restrict": {}, "/object": {"purpose": "P5", "accept": "1", "grounds": ""},
             "/rectify": {"field": "learning_state.profession", "value": "v"},
             "/close": {"outcome": "done", "answer": "a"}}  # fmt: skip
    for suffix, form in forms.items():
        path = "/console/requests" + (f"/{request_id}{suffix}" if suffix else "")
        assert client.post(path, form).status_code == 403, path
        assert client.post(path, {**form, "csrf": "not-the-token"}).status_code == 403, path
    assert len(Requests(store).list()) == before
    assert Requests(store).get(request_id).status == "received"
    assert _trail(store, request_id) == ["subject.request.receive"]

    auditor = _login(app, store, "auditor")
    token = auditor.csrf("/console")
    assert auditor.get(f"/console/requests/{request_id}").status_code == 403
    assert (
        auditor.post(f"/console/requests/{request_id}/verify", {"csrf": token, "by": "a", "how": "b"}).status_code
        == 403
    )
    assert Requests(store).get(request_id).status == "received"
