"""``ccaudit verify`` end to end: a real ``ccaudit serve`` seals what it receives (and everything at
shutdown); the command verifies through the service while it runs (the auditor's token), then the
store directly once it stopped, and names a seal file taken from the folder."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from ccaudit.seal.seals import seal_path
from tests.conftest import ROOT, Service, clean_env, free_port, start_process, stop_process
from tests.ingest.test_pipeline import batch, wire


def _verify(env: dict[str, str], *extra: str) -> tuple[int, dict[str, Any]]:
    args = [sys.executable, "-m", "ccaudit", "verify", "--json", *extra]
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    return done.returncode, json.loads(done.stdout)


def test_verify_through_the_service_then_the_store_and_a_removed_seal_file_is_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port, admin = free_port(), secrets.token_urlsafe(16)
    env = clean_env(CCAUDIT_DATA_DIR=str(data), CCAUDIT_PORT=str(port), CCAUDIT_ADMIN_TOKEN=admin,
                    CCAUDIT_SEAL_PERIOD="1", CCAUDIT_SEAL_SETTLE="1")  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    proc = start_process([sys.executable, "-m", "ccaudit", "serve"], env, url, tmp_path / "log", "/health")
    try:
        service = Service(proc, admin)
        events = [wire(1), wire(2), wire(3)]
        assert service.post_batch(batch(events)).status_code == 200
        reader = service.personal_token("auditor")
        code, report = _verify({**env, "CCAUDIT_API_TOKEN": reader})
        assert code == 0, report
        assert report["ok"]
        assert httpx.get(url + "/health", timeout=10).json()["seal"]["status"] == "ok"
    finally:
        assert stop_process(proc) == 0, proc.output()
    code, report = _verify(env)
    assert code == 0, report
    assert report["counts"]["rows_checked"] >= 3
    first = seal_path(data / "seals", "coop", "audit", 1)
    first.unlink()
    code, report = _verify(env, "--platform", "coop")
    assert code == 1
    assert {(f["kind"], f.get("seq")) for f in report["findings"]} == {("folder_mismatch", 1)}
