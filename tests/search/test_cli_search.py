"""``ccaudit events search`` and ``ccaudit events export`` through a real service."""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path

import pytest

from tests.conftest import Service
from tests.ingest.test_pipeline import batch, wire
from tests.test_cli import ccaudit

pytestmark = pytest.mark.e2e


def test_search_and_export_go_through_the_service(service: Service, tmp_path: Path) -> None:
    org = f"cli-search-{uuid.uuid4().hex[:6]}"
    events = [wire(n, organisation=org, request_id=f"{org}-{n}", actor_account_id=f"a{n % 2}") for n in range(5)]
    service.post_batch(batch(events)).raise_for_status()
    env = {"CCAUDIT_SERVICE_URL": service.url, "CCAUDIT_API_TOKEN": service.reader}
    done = ccaudit("events", "search", f"org:{org}", "actor:a1", "--json", **env)
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(line)["request_id"] for line in done.stdout.splitlines()) == [f"{org}-1", f"{org}-3"]
    paged = ccaudit("events", "search", f"org:{org}", "--limit", "2", "--json", **env)
    assert "more: --cursor " in paged.stderr
    bad = ccaudit("events", "search", "colour:red", **env)
    assert bad.returncode == 1
    assert "colour:red" in bad.stderr
    for fmt in ("csv", "jsonl"):
        target = tmp_path / f"out.{fmt}"
        done = ccaudit("events", "export", "--format", fmt, "-o", str(target), f"org:{org}", **env)
        assert done.returncode == 0, done.stderr
        if fmt == "csv":
            exported = [row["request_id"] for row in csv.DictReader(target.open())]
        else:
            exported = [json.loads(line)["request_id"] for line in target.read_text().splitlines()]
        assert sorted(exported) == sorted(e["request_id"] for e in events)
        assert not (tmp_path / f"out.{fmt}.part").exists()


def test_search_without_a_service_says_it_needs_one(tmp_path: Path) -> None:
    done = ccaudit("events", "search", "actor:x", CCAUDIT_DATA_DIR=str(tmp_path / "data"))
    assert done.returncode == 2
    assert "goes through the service" in done.stderr
