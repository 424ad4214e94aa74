"""The auditor's tamper-evidence page in the console, in-process on the real engine: the sealer's
state and each chain's head, a verification that passes, then one naming a row deleted behind
ccaudit's back, the erasure ccaudit accounted for, a refused parameter, and the page in Dutch."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path

from ccaudit.access import AccountStore
from ccaudit.ingest import Ingestor
from ccaudit.register import DEFAULT_REGISTER
from ccaudit.rights.erase import erase
from ccaudit.rights.subjects import find_subject
from ccaudit.seal import keys
from ccaudit.service.app import create_app
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.console.browser import Client
from tests.ingest.test_pipeline import batch, wire

PASSWORD = "a password long enough"


def test_the_auditor_sees_the_seals_and_verifies_in_the_console(store: Store, tmp_path: Path) -> None:
    settings = Settings(admin_token=secrets.token_urlsafe(24), data_dir=tmp_path, seal_period=1, seal_settle=0)
    app = create_app(settings, store)
    accounts = AccountStore(store.client, store.database)
    users = {role: f"{role}-{uuid.uuid4().hex[:6]}" for role in ("auditor", "dpo")}
    for role, name in users.items():
        accounts.create(name, role, [], PASSWORD)
    events = [wire(n, actor_account_id=f"acct-{n}") for n in range(3)]
    Ingestor(settings, store).ingest(batch(events))
    keys.ensure(settings.seal_key_path)  # what the service's start does
    sealer = app.state.sealing.sealer
    sealer.seal_due(final=True)

    dpo = Client(app)
    dpo.login(users["dpo"], PASSWORD)
    assert dpo.get("/console/verify").status_code == 403
    auditor = Client(app)
    auditor.login(users["auditor"], PASSWORD)
    assert 'href="/console/verify"' in auditor.get("/console").text
    page = auditor.get("/console/verify")
    assert page.status_code == 200
    assert "Sealing runs." in page.text
    head = sealer.heads("coop")
    audit = next(h for h in head if h["stream"] == "audit")
    assert f"coop/audit:{audit['seq']}:{audit['hash']}" in page.text
    assert "Verified:" not in page.text  # a verification runs only when asked for

    verified = auditor.get(
        "/console/verify", params={"run": "1", "heads": f"coop/audit:{audit['seq']}:{audit['hash']}"}
    )
    assert verified.status_code == 200
    assert "Verified: nothing was changed" in verified.text

    erase(store, DEFAULT_REGISTER, find_subject(store, DEFAULT_REGISTER, ["acct-1"]), now=datetime.now(UTC))
    gone = str(events[2]["event_id"])
    store.client.command(f"DELETE FROM {store.database}.audit_events WHERE event_id = {{id:UUID}}",
                         parameters={"id": gone})  # fmt: skip
    found = auditor.get("/console/verify", params={"run": "1", "platform": "coop", "stream": "audit"})
    assert found.status_code == 200
    assert "1 finding(s)" in found.text
    assert "row_removed" in found.text
    assert gone in found.text
    assert "erased (pseudonymised)" in found.text

    refused = auditor.get("/console/verify", params={"run": "1", "stream": "usage"})
    assert refused.status_code == 400
    assert "the parameter stream is not accepted" in refused.text
    refused = auditor.get("/console/verify", params={"run": "1", "heads": "coop/audit:x"})
    assert refused.status_code == 400
    assert "the parameter heads is not accepted" in refused.text

    auditor.get("/console/language/nl")
    assert "Manipulatiebewijs: zegels en controle" in auditor.get("/console/verify").text
