"""The deployment quick start (docs/quickstart.md), run as it is written.

The shell block after the ``<!-- quickstart: deployment -->`` line is read from the docs and run with
bash in an empty temporary folder, with the virtual environment's bin first on PATH and no
``CCAUDIT_*`` setting but those the block makes: a service on its embedded store, an admin token
from ``ccaudit secret``, an ingest token from ``ccaudit tokens create coop --quiet``, a small
Starlette platform that ships one audit event, and that event read back with ``ccaudit events``.
So the quick start cannot drift from the code: when a command, an option or a message it relies on
changes, this test fails and shows the block's output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, free_port

QUICKSTART = ROOT / "docs" / "quickstart.md"
MARKER = "<!-- quickstart: deployment -->"
# The ports the block is written with: the service's and the platform's.
SERVICE_PORT, PLATFORM_PORT = 8787, 8788
BASH = shutil.which("bash") or "/bin/bash"
TIMEOUT = 240  # seconds for the whole block: the service's first start applies every migration


def quickstart_block(text: str) -> str:
    """The ``sh`` block right after the marker line (the only one in the page)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == MARKER]
    assert len(starts) == 1, f"expected one {MARKER!r} line in {QUICKSTART}, found {len(starts)}"
    start = starts[0] + 1
    assert lines[start] == "```sh", f"the line after {MARKER!r} must open a ```sh block, not {lines[start]!r}"
    end = lines.index("```", start + 1)
    return "\n".join(lines[start + 1 : end]) + "\n"


def _on_free_ports(block: str) -> tuple[str, int, int]:
    """The block with its two ports replaced by free ones: 8787 and 8788 may be taken where the
    tests run (a developer's own service, ``make run``), and the block must not talk to those."""
    for port in (SERVICE_PORT, PLATFORM_PORT):
        assert re.search(rf"\b{port}\b", block), f"the quick start no longer uses port {port}; update this test"
    service = free_port()
    platform = free_port()
    while platform == service:
        platform = free_port()
    script = re.sub(rf"\b{SERVICE_PORT}\b", str(service), block)
    script = re.sub(rf"\b{PLATFORM_PORT}\b", str(platform), script)
    return script, service, platform


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the block's shell and everything it started in the background: its process group, made
    for it alone (start_new_session), so nothing else is touched."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _group_alive(proc.pid):
            break
        os.killpg(proc.pid, sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            proc.poll()  # reap the shell, so that its group can vanish
            if not _group_alive(proc.pid):
                break
            time.sleep(0.1)
    proc.poll()


def _json_lines(text: str) -> list[dict[str, Any]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return rows


@pytest.mark.e2e
@pytest.mark.timeout(TIMEOUT + 60)
def test_the_deployment_quick_start_runs_as_written(tmp_path: Path) -> None:
    script, service_port, _ = _on_free_ports(quickstart_block(QUICKSTART.read_text()))
    folder = tmp_path / "quickstart"  # the "new empty folder" of the docs
    folder.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    script_file = tmp_path / "quickstart.sh"
    script_file.write_text("set -euo pipefail\n" + script)
    bin_dir = Path(sys.executable).parent
    # A clean environment: no CCAUDIT_* from outside, no proxy, a home of its own.
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }
    stdout_file, stderr_file = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with stdout_file.open("wb") as stdout, stderr_file.open("wb") as stderr:
        # Output to files, not pipes: a background process the block left behind would hold a pipe open.
        proc = subprocess.Popen(
            [BASH, str(script_file)], cwd=folder, env=env, stdout=stdout, stderr=stderr, start_new_session=True
        )
        try:
            code: int | None = proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            _stop_group(proc)
    out, err = stdout_file.read_text(errors="replace"), stderr_file.read_text(errors="replace")
    shown = f"--- stdout ---\n{out[-4000:]}\n--- stderr ---\n{err[-6000:]}"

    assert code is not None, f"the quick start did not finish within {TIMEOUT}s\n{shown}"
    assert code == 0, f"the quick start failed with exit code {code}\n{shown}"
    events = [row for row in _json_lines(out) if row.get("route") == "/admin/settings"]
    assert events, f"the quick start did not show its audit event\n{shown}"
    event = events[0]
    assert (event["action"], event["method"], event["status"]) == ("http.POST", "POST", 200)
    assert event["outcome"] == "success"
    assert event["platform"] == "coop"
    assert event["admin_operation"] is True
    assert (event["actor_account_id"], event["actor_role"]) == ("", ""), "an anonymous request has no actor or role"
    # The command line names the deployment it acted on: the service holding the quick start's folder.
    data_folder = (folder / "ccaudit-data").resolve()
    assert f"ccaudit: service http://127.0.0.1:{service_port} (data folder {data_folder})" in err, shown
    assert not (data_folder / "service.json").exists(), "the stopped service should have removed its service.json"
