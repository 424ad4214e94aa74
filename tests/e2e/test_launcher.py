"""`make run`'s launcher (`ccaudit demo`): starts, shows audit events at the printed URL, stops cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, clean_env, free_port, wait_until

pytestmark = pytest.mark.e2e


class Output:
    """Collects a process's output in a thread, so patterns can be awaited without blocking reads."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.text = ""
        self._thread = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        self._thread.start()

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.text += line

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.text)
            if match:
                return match
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} not printed within {timeout}s; output so far:\n{self.text}")


def test_demo_launcher_serves_audit_events_and_stops_on_sigterm(tmp_path: Path) -> None:
    service_port, platform_port, flask_port, django_port = free_port(), free_port(), free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccaudit", "demo", "--service-port", str(service_port),
         "--platform-port", str(platform_port), "--flask-port", str(flask_port), "--django-port", str(django_port)],
        env=clean_env(CCAUDIT_DATA_DIR=str(tmp_path / "data")),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        output = Output(proc)
        # Generous: before the service starts, the demo migrates and writes months of history.
        service_url = output.wait_for(r"ccaudit service\s+(http://127\.0\.0\.1:\d+)\n", 300).group(1)
        token = output.wait_for(r"reader token\s+(\S+)\s", 10).group(1)
        # The demo's own summary, not the service's start-up log lines (which carry a level).
        summary = "\n".join(line for line in output.text.splitlines() if " INFO " not in line)
        urls = re.findall(r"http://127\.0\.0\.1:\d+", summary)
        platforms = [f"http://127.0.0.1:{port}" for port in (platform_port, flask_port, django_port)]
        assert urls[:4] == [service_url, *platforms]  # the service's first
        headers = {"Authorization": f"Bearer {token}"}

        def admin_events(platform: str) -> list[dict[str, object]]:
            params = {"actor": "alice", "platform": platform}
            # A generous timeout: the demo's traffic keeps the one embedded engine busy on a loaded machine.
            response = httpx.get(service_url + "/v1/audit/events", params=params, headers=headers, timeout=30)
            assert response.status_code == 200
            events: list[dict[str, object]] = response.json()["events"]
            return events

        for platform in ("coop", "learning", "library"):  # the Starlette, Flask and Django kits
            events = wait_until(lambda p=platform: admin_events(p), timeout=60, interval=0.5)
            sample = events[0]
            for field in ("actor_account_id", "organisation", "route", "outcome", "status", "client_ip"):
                assert sample[field] not in ("", None), (platform, field)

        # The learning platform's follow-up module, as the printed lines say to try it: a learner who
        # has not finished the basics is told what is missing, by the service's answer.
        follow_up = output.wait_for(r"learning\s+(http://127\.0\.0\.1:\d+/learn/privacy-201)\s", 10).group(1)
        assert follow_up.startswith(platforms[1])
        eligibility = output.wait_for(r'Bearer (\S+)" "(\S+/v1/eligibility/bob/privacy-201)"', 10)
        with httpx.Client(timeout=30) as carol:
            assert (
                carol.post(platforms[1] + "/login", data={"username": "carol", "password": "demo"}).status_code == 303
            )
            page = carol.get(follow_up)
            assert page.status_code == 403, page.text
            assert "module privacy-101 (moveOn): 0 of 3 required lessons met" in page.text
        answer = httpx.get(
            eligibility.group(2), headers={"Authorization": f"Bearer {eligibility.group(1)}"}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["rule_version"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0
