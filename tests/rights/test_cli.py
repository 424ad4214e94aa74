"""The retention and subject commands on an embedded data folder, as separate processes (chDB opens
one folder per process): a hold, a dry run that lists and a run that erases nothing held, a request
received and listed, an export written as JSON and CSV."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, clean_env, free_port
from tests.ingest.test_pipeline import wire
from tests.test_cli import store_through_a_service

pytestmark = pytest.mark.e2e


def ccaudit(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ccaudit", *args], env=clean_env(**env), cwd=ROOT,
                          capture_output=True, text=True, timeout=180)  # fmt: skip


def test_retention_and_subject_commands(tmp_path: Path) -> None:
    env = {"CCAUDIT_DATA_DIR": str(tmp_path)}
    store_through_a_service(tmp_path, free_port(), env, [wire(1, actor_account_id="acct-cli", request_id="r-cli")])

    held = ccaudit("retention", "hold", "coop", "acct-cli", "--reason", "pending claim", **env)
    assert held.returncode == 0, held.stderr
    assert "held coop/acct-cli" in held.stdout
    assert "acct-cli" in ccaudit("retention", "holds", **env).stdout
    dry = ccaudit("retention", "run", "--dry-run", **env)
    assert dry.returncode == 0, dry.stderr
    assert "would erase 0 accounts" in dry.stdout
    applied = ccaudit("retention", "apply", **env)
    assert applied.returncode == 0, applied.stderr
    assert "already follows the register" in applied.stdout

    received = ccaudit("subject", "requests", "receive", "--kind", "export", "--account", "acct-cli", **env)
    assert received.returncode == 0, received.stderr
    request_id = json.loads(received.stdout)["request_id"]
    listed = ccaudit("subject", "requests", **env, COLUMNS="200")
    assert request_id in listed.stdout

    out = tmp_path / "export"
    unverified = ccaudit("subject", "export", "acct-cli", "--out", str(out), "--request", request_id, **env)
    assert unverified.returncode == 2
    assert "not verified" in unverified.stderr
    assert not out.exists()
    verified = ccaudit("subject", "requests", "verify", "--request", request_id, "--how", "passport at the desk", **env)
    assert verified.returncode == 0, verified.stderr
    exported = ccaudit("subject", "export", "acct-cli", "--out", str(out), "--request", request_id, **env)
    assert exported.returncode == 0, exported.stderr
    document = json.loads((out / "export.json").read_text())
    assert [r["request_id"] for r in document["tables"]["audit_events"]] == ["r-cli"]
    assert "r-cli" in (out / "audit_events.csv").read_text()
    assert ccaudit("subject", "erase", "acct-cli", **env).returncode == 2  # held
