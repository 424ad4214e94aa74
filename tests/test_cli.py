"""The command line, as real processes: reads through the service or the embedded store, clear errors."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, Service, clean_env, free_port, start_process, stop_process, wait_until
from tests.ingest.test_pipeline import batch, wire

pytestmark = pytest.mark.e2e


def ccaudit(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ccaudit", *args],
        env=clean_env(**env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_events_reads_through_the_running_service(service: Service) -> None:
    service.post_batch(batch([wire(5, request_id="cli-through-service")])).raise_for_status()
    done = ccaudit(
        "events", "--json", "--limit", "1000", CCAUDIT_SERVICE_URL=service.url, CCAUDIT_API_TOKEN=service.reader
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert any(r["request_id"] == "cli-through-service" for r in rows)


def store_through_a_service(tmp_path: Path, port: int, env: dict[str, str], events: list[dict[str, Any]]) -> None:
    """Write ``events`` through a service on the data folder, then stop it: the folder is free again."""
    made = ccaudit("tokens", "create", "coop", **env)  # no service yet: straight into the store
    assert made.returncode == 0, made.stderr
    server = start_process(
        [sys.executable, "-m", "ccaudit", "serve", "--port", str(port)], clean_env(**env),
        f"http://127.0.0.1:{port}", tmp_path / "log", "/health",
    )  # fmt: skip
    response = httpx.post(
        server.url + "/v1/events", json=batch(events), headers={"Authorization": f"Bearer {made.stdout.split()[1]}"}
    )
    response.raise_for_status()
    assert stop_process(server) == 0


def test_events_reads_the_embedded_store_when_no_service_runs(tmp_path: Path) -> None:
    port = free_port()
    env = {"CCAUDIT_DATA_DIR": str(tmp_path)}
    assert ccaudit("migrate", **env).returncode == 0
    assert "up to date" in ccaudit("migrate", **env).stdout
    store_through_a_service(tmp_path, port, env, [wire(1, request_id="cli-direct")])
    done = ccaudit("events", "--json", **env)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["request_id"] for line in done.stdout.splitlines()] == ["cli-direct"]
    assert f"ccaudit: data folder {tmp_path.resolve()} (no service running)" in done.stderr


def test_bad_setting_exits_2_naming_the_key() -> None:
    done = ccaudit("events", CCAUDIT_QUEUE_SIZE="-1")
    assert done.returncode == 2
    assert "CCAUDIT_QUEUE_SIZE" in done.stderr


def test_bad_argument_exits_2() -> None:
    done = ccaudit("events", "--limit", "0")
    assert done.returncode == 2


def test_serve_on_a_taken_port_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = ccaudit("serve", "--port", str(port), CCAUDIT_DATA_DIR=str(tmp_path))
    assert done.returncode == 2
    assert f"port {port}" in done.stderr
    assert "already in use" in done.stderr


def test_spool_status_drain_and_dead_letters(tmp_path: Path, service: Service) -> None:
    from ccaudit.shipping.spool import Spool

    spool = Spool(tmp_path / "spool-coop.sqlite3")
    good = wire(7, request_id="cli-spool-drain")
    bad = wire(8, outcome="??")
    spool.put([json.dumps(good), json.dumps(bad)])
    claimed = spool.claim(10, 60)  # as a shipper would, before the service refused one
    spool.refuse(claimed, {1: "outcome: Input should be 'success', ..."})
    env = {"CCAUDIT_SPOOL_PATH": str(tmp_path / "spool-coop.sqlite3"), "CCAUDIT_PLATFORM": "coop", "CCAUDIT_SERVICE_URL": service.url,
           "CCAUDIT_INGEST_TOKEN": service.ingest_token("coop")}  # fmt: skip

    status = json.loads(ccaudit("spool", "status", "--json", **env).stdout)
    assert (status["depth"], status["dead_letters"]) == (1, 1)
    listing = ccaudit("spool", "dead-letters", **env)
    assert bad["event_id"][:13] in listing.stdout  # the table may wrap the rest
    assert "outcome" in listing.stdout

    drained = ccaudit("spool", "drain", "--timeout", "30", **env)
    assert drained.returncode == 0, drained.stderr
    assert [e["request_id"] for e in service.events(request_id="cli-spool-drain")] == ["cli-spool-drain"]

    assert "requeued 1" in ccaudit("spool", "dead-letters", "--requeue", **env).stdout
    down = {**env, "CCAUDIT_SERVICE_URL": f"http://127.0.0.1:{free_port()}"}
    stuck = ccaudit("spool", "drain", "--timeout", "2", **down)
    assert stuck.returncode == 1
    assert "still in the spool" in stuck.stderr


def test_consent_decide_explains_the_decision() -> None:
    import time

    from ccaudit.consent import ConsentRecord, encode_consent_cookie

    now = time.time_ns() // 1_000_000
    cookie = "ccaudit_consent=" + encode_consent_cookie(
        ConsentRecord("0b9f3c1e-5a3d-4c1b-9a7e-3f2d1c0b9a8e", 1, frozenset({"analytics"}), now, now)
    )
    granted = json.loads(ccaudit("consent", "decide", "--cookie", cookie).stdout)
    assert (granted["analytics"], granted["reason"], granted["category"]) == (True, "granted", "analytics")
    gpc = subprocess.run(
        [sys.executable, "-m", "ccaudit", "consent", "decide", "--stdin"], input=f"Host: x\nCookie: {cookie}\nSec-GPC: 1\n",
        env=clean_env(), cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert json.loads(gpc.stdout)["reason"] == "gpc"
    assert json.loads(ccaudit("consent", "decide", "--cookie", cookie, "--header", "DNT: 1").stdout)["reason"] == "dnt"
    overridden = ccaudit("consent", "decide", "--cookie", cookie, "--header", "Sec-GPC: 1", CCAUDIT_GPC_OVERRIDE="true")
    assert json.loads(overridden.stdout)["reason"] == "granted-over-gpc"


def test_register_shows_purposes_and_retention() -> None:
    shown = json.loads(ccaudit("register", "--json").stdout)
    assert shown["default"]["usage"]["consent_category"] == "analytics"
    assert shown["default"]["audit"]["retention_days"] == 730
    assert "P5" in shown["purposes"]


def test_consent_show_prints_a_consents_history(service: Service) -> None:
    import uuid

    from tests.consent.test_receipts import consent_wire

    consent_id = str(uuid.uuid4())
    given, withdrawn = consent_wire(consent_id, 1), consent_wire(consent_id, 2, action="withdraw")
    service.post_batch(batch([given, withdrawn])).raise_for_status()
    env = {"CCAUDIT_SERVICE_URL": service.url, "CCAUDIT_API_TOKEN": service.personal_token("dpo")}
    shown = ccaudit("consent", "show", consent_id, "--json", **env)
    assert shown.returncode == 0, shown.stderr
    assert [r["action"] for r in json.loads(shown.stdout)["receipts"]][-1] == "withdraw"
    assert ccaudit("consent", "show", "not-a-uuid", **env).returncode == 2


def test_consent_show_from_the_embedded_store_takes_any_spelling_of_the_id(tmp_path: Path) -> None:
    import uuid

    from tests.consent.test_receipts import consent_wire

    port = free_port()
    env = {"CCAUDIT_DATA_DIR": str(tmp_path)}
    consent_id = str(uuid.uuid4())
    store_through_a_service(tmp_path, port, env, [consent_wire(consent_id, 1)])
    # No service now: the command reads the store itself, where receipts are kept under the lower-case id.
    shown = ccaudit("consent", "show", consent_id.upper(), "--json", **env)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["consent_id"] == consent_id
    assert [r["action"] for r in data["receipts"]] == ["accept_all"]


def test_a_token_for_a_name_ingest_refuses_is_not_made(tmp_path: Path) -> None:
    env = {"CCAUDIT_DATA_DIR": str(tmp_path)}
    for command in (("create", "coop", "Coop"), ("rotate", "Coop")):
        done = ccaudit("tokens", *command, **env)  # no service: straight into the store
        assert done.returncode == 2, done.stdout + done.stderr
        assert "'Coop' is not a platform name" in done.stderr
    listed = ccaudit("tokens", "list", **env)
    assert listed.returncode == 0, listed.stderr
    assert "Coop" not in listed.stdout
    assert "coop" in listed.stdout  # the valid name before the bad one was made


def test_commands_reach_the_service_that_holds_the_data_folder_and_name_it(tmp_path: Path) -> None:
    port = free_port()
    admin = secrets.token_urlsafe(16)
    env = {"CCAUDIT_DATA_DIR": str(tmp_path / "data"), "CCAUDIT_ADMIN_TOKEN": admin}
    log = tmp_path / "log"
    server = start_process(
        [sys.executable, "-m", "ccaudit", "serve", "--port", str(port)], clean_env(**env), f"http://127.0.0.1:{port}",
        log, "/health",
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: "ready" in server.output())
        started = server.output()
        assert url in started
        assert f"embedded ClickHouse (chDB) in {(tmp_path / 'data').resolve() / 'chdb'}" in started
        assert "migrations: applied 0001_audit_events" in started
        made = ccaudit("tokens", "create", "coop", "--quiet", **env)
        assert made.returncode == 0, made.stderr
        assert f"ccaudit: service {url} (data folder {(tmp_path / 'data').resolve()})" in made.stderr
        assert made.stdout.startswith("cca_")
        assert len(made.stdout.split()) == 1
        # Without the admin token the command says which service refused it, and why.
        refused = ccaudit("tokens", "list", CCAUDIT_DATA_DIR=env["CCAUDIT_DATA_DIR"])
        assert refused.returncode == 2
        assert f"the service at {url} needs a credential: set CCAUDIT_API_TOKEN" in refused.stderr
        wrong = ccaudit("tokens", "list", **{**env, "CCAUDIT_ADMIN_TOKEN": secrets.token_urlsafe(16)})
        assert wrong.returncode == 1
        assert f"the service at {url} answered 401" in wrong.stderr
    finally:
        assert stop_process(server) == 0, server.output()
    assert not (tmp_path / "data" / "service.json").exists()
    listed = ccaudit("tokens", "list", **env)  # the folder is free again: read directly
    assert listed.returncode == 0, listed.stderr
    assert "(no service running)" in listed.stderr
    assert "coop" in listed.stdout


def test_a_stale_record_never_sends_a_command_to_another_deployments_service(tmp_path: Path, service: Service) -> None:
    from ccaudit.service.presence import ServiceRecord, write_record

    # A record left by a service that died, whose port another deployment's service now holds.
    write_record(tmp_path, ServiceRecord(service.url, 999_999, "not-that-instance"))
    done = ccaudit(
        "tokens", "create", "stale", "--quiet", CCAUDIT_DATA_DIR=str(tmp_path), CCAUDIT_ADMIN_TOKEN=service.token
    )
    assert done.returncode == 0, done.stderr
    assert "(no service running)" in done.stderr
    token = done.stdout.strip()
    ingest = httpx.post(f"{service.url}/v1/events", json=batch([], platform="stale"),
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
    assert ingest.status_code == 401  # the token was made in the folder's store, not in that service's


def test_a_service_url_is_the_only_deployment_a_command_uses(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = ccaudit("tokens", "list", CCAUDIT_SERVICE_URL=url, CCAUDIT_DATA_DIR=str(tmp_path),
                   CCAUDIT_ADMIN_TOKEN=secrets.token_urlsafe(16))  # fmt: skip
    assert done.returncode == 1
    assert f"ccaudit: service {url} (CCAUDIT_SERVICE_URL)" in done.stderr
    assert f"no answer from the service at {url}" in done.stderr
    assert not any(tmp_path.iterdir())  # the data folder was never opened


def test_a_weak_admin_token_stops_the_service_at_start_naming_the_setting(tmp_path: Path) -> None:
    for weak in ("x", "password-password-pass", "a" * 40):
        done = ccaudit("serve", "--port", str(free_port()), CCAUDIT_DATA_DIR=str(tmp_path), CCAUDIT_ADMIN_TOKEN=weak)
        assert done.returncode == 2, weak
        assert "CCAUDIT_ADMIN_TOKEN" in done.stderr
        assert "ccaudit secret" in done.stderr
        assert weak not in done.stderr.replace("CCAUDIT_ADMIN_TOKEN", "")


def test_secret_makes_secrets_the_service_accepts() -> None:
    from ccaudit.settings import check_secret

    made = {ccaudit("secret").stdout.strip() for _ in range(2)}
    assert len(made) == 2
    for secret in made:
        assert check_secret(secret) == secret
        assert len(secret) == 43


def test_serve_logs_json_lines_when_asked(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(CCAUDIT_DATA_DIR=str(tmp_path), CCAUDIT_LOG_FORMAT="json")
    server = start_process([sys.executable, "-m", "ccaudit", "serve", "--port", str(port)], env,
                           f"http://127.0.0.1:{port}", tmp_path / "log", "/health")  # fmt: skip
    try:
        wait_until(lambda: '"ready": true' in server.output())
    finally:
        stop_process(server)
    records = [json.loads(line) for line in server.output().splitlines() if line.strip()]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any(r.get("ready") is True and r["url"] == f"http://127.0.0.1:{port}" for r in records)
    assert any(r["level"] == "warning" and "CCAUDIT_ADMIN_TOKEN" in r["message"] for r in records)
