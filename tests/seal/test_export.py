"""Verification from an export, in a separate process with no store: the JSON Lines export of the
audit trail (encoded as GET /v1/audit/export encodes it), the seal folder and the public keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ccaudit.seal import keys
from ccaudit.search.export import encode
from ccaudit.store.audit import READ_COLUMNS
from tests.conftest import ROOT, clean_env
from tests.seal.conftest import World


def _export(world: World, path: Path) -> list[dict[str, Any]]:
    db = world.store.database
    rows = world.store.client.query(
        f"SELECT {', '.join(READ_COLUMNS)} FROM {db}.audit_events FINAL ORDER BY event_time"
    )
    path.write_bytes(b"".join(encode(rows.result_rows, "jsonl", [0])))
    return [json.loads(line) for line in path.read_text().splitlines()]


def _verify(world: World, export: Path, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    empty = tmp_path / "no-store"
    args = [sys.executable, "-m", "ccaudit", "verify", "--export", str(export), "--seals", str(world.folder),
            "--public-keys", str(keys.public_keys_file(world.key_file)), "--json"]  # fmt: skip
    env = clean_env(CCAUDIT_DATA_DIR=str(empty), PYTHONPATH=str(ROOT))
    done = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert not (empty / "chdb").exists(), "verifying an export opens no store"
    return done.returncode, json.loads(done.stdout)


def test_an_export_verifies_in_a_process_without_the_store_and_a_changed_row_is_named(
    world: World, tmp_path: Path
) -> None:
    world.ingest_audit(5)
    world.seal()
    world.ingest_audit(3)
    world.seal()
    export = tmp_path / "audit.jsonl"
    rows = _export(world, export)
    assert len(rows) == 8
    code, report = _verify(world, export, tmp_path)
    assert code == 0, report
    assert report["ok"]
    assert report["counts"]["rows_checked"] == 8
    # The export is changed on its way to the auditor: one row's action, one row left out.
    changed = dict(rows[2], action="user.nothing")
    lines = [json.dumps(r) for r in [*rows[:2], changed, *rows[3:7]]]
    export.write_text("\n".join(lines) + "\n")
    code, report = _verify(world, export, tmp_path)
    assert code == 1
    assert [(f["kind"], f["row_id"]) for f in report["findings"]] == [("row_modified", changed["event_id"])]
    assert report["counts"]["not_exported"] == 1
