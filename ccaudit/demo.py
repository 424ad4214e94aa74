"""The launcher behind ``make run``: migrate, start the service and a demo platform, drive traffic.

It prints the service URL first (``ccaudit service  http://127.0.0.1:<port>``), then the platform's
and the admin token for the read API, runs until SIGINT or SIGTERM, then stops its children (each
bounded) and exits 0. The test suite starts this same launcher, so it cannot rot.
"""

from __future__ import annotations

import http.cookiejar
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from types import FrameType

from ccaudit.consent import ConsentRecord, encode_consent_cookie
from ccaudit.settings import Settings

_STOP_TIMEOUT = 15.0
_BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
_CRAWLER = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def _demo_consent() -> str:
    """A consent cookie value accepting analytics, as of now."""
    now = time.time_ns() // 1_000_000
    return encode_consent_cookie(ConsentRecord(str(uuid.uuid4()), 1, frozenset({"necessary", "analytics"}), now, now))


def _wait_http(url: str, deadline: float, proc: subprocess.Popen[bytes]) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with opener.open(url, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answers
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    return False


def _stop(proc: subprocess.Popen[bytes], name: str) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop within {_STOP_TIMEOUT:.0f}s; killing it", file=sys.stderr, flush=True)
            proc.kill()
            proc.wait()
    return proc.returncode


class TrafficGenerator(threading.Thread):
    """Plays admins, users, failed logins, errors and visitors against the demo platform."""

    def __init__(self, base_url: str, stop: threading.Event, pause: float = 1.0) -> None:
        super().__init__(name="demo-traffic", daemon=True)
        self.base = base_url
        self.stop = stop
        self.pause = pause
        self.requests = 0

    def _client(self) -> urllib.request.OpenerDirector:
        jar = http.cookiejar.CookieJar()
        return urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar))

    def _call(
        self,
        client: urllib.request.OpenerDirector,
        path: str,
        form: dict[str, str] | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        headers = {"User-Agent": _BROWSER, **(extra or {})}
        request = urllib.request.Request(self.base + path, data=data, headers=headers)
        try:
            with client.open(request, timeout=5) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            exc.read()
        except (urllib.error.URLError, OSError):
            pass
        self.requests += 1

    def run(self) -> None:
        round_no = 0
        while not self.stop.is_set():
            round_no += 1
            admin, user, visitor = self._client(), self._client(), self._client()
            # Visitors: one who accepted analytics (as a banner would have recorded), one who did not
            # answer, one whose browser sends Global Privacy Control, and a crawler.
            consented = {"Cookie": f"ccaudit_consent={_demo_consent()}", "Referer": "https://www.example.org/news"}
            self._call(visitor, "/", extra=consented)
            self._call(visitor, "/about", extra=consented)
            self._call(visitor, "/about")
            self._call(visitor, "/", extra={"Cookie": f"ccaudit_consent={_demo_consent()}", "Sec-GPC": "1"})
            self._call(visitor, "/", extra={"Cookie": f"ccaudit_consent={_demo_consent()}", "User-Agent": _CRAWLER})
            self._call(admin, "/login", {"username": "alice", "password": "demo"})
            self._call(admin, "/admin/users")
            self._call(admin, f"/admin/users/{100 + round_no % 3}")
            self._call(admin, f"/admin/users/{100 + round_no % 3}", {"name": f"Name {round_no}"})
            self._call(user, "/login", {"username": "bob", "password": "demo"})
            self._call(user, "/posts", {"title": f"post {round_no}"})
            self._call(user, "/me/profile", {"display_name": f"Bob {round_no}"})
            if round_no % 3 == 0:
                self._call(visitor, "/login", {"username": "mallory", "password": "guess"})
            if round_no % 5 == 0:
                self._call(admin, "/admin/boom", {})
            self._call(admin, "/logout", {})
            self.stop.wait(self.pause)


def run_demo(settings: Settings, service_port: int, platform_port: int, kit: str, app_dir: str, traffic: bool) -> int:
    """Run until a signal; returns the process exit code."""
    token = settings.admin_token.get_secret_value() if settings.admin_token else secrets.token_urlsafe(24)
    env = dict(os.environ)
    env.update(
        CCAUDIT_ADMIN_TOKEN=token,
        CCAUDIT_PORT=str(service_port),
        CCAUDIT_SERVICE_URL=f"http://127.0.0.1:{service_port}",
        CCAUDIT_DATA_DIR=str(settings.data_dir.resolve()),
    )
    env.setdefault("CCAUDIT_FLUSH_INTERVAL", "0.5")
    python = sys.executable
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    migrated = subprocess.run([python, "-m", "ccaudit", "migrate"], env=env)
    if migrated.returncode != 0:
        return migrated.returncode
    # The demo platform's ingest token, made straight in the store before the service holds it.
    made = subprocess.run(
        [python, "-m", "ccaudit", "tokens", "create", "coop"], env=env, capture_output=True, text=True
    )
    if made.returncode != 0:
        print(made.stderr, file=sys.stderr, flush=True)
        return made.returncode
    env["CCAUDIT_INGEST_TOKEN"] = made.stdout.split()[1]
    service = subprocess.Popen([python, "-m", "ccaudit", "serve", "--no-migrate"], env=env)
    service_url = f"http://127.0.0.1:{service_port}"
    if not _wait_http(service_url + "/health", time.monotonic() + 60, service):
        print("the service did not start; see its messages above", file=sys.stderr, flush=True)
        _stop(service, "service")
        return 1
    # The demo's traffic includes a route that raises on purpose; its tracebacks would drown the
    # launcher's output, so the demo platform logs only critical messages.
    platform_log_level = "critical" if traffic else "warning"
    platform = subprocess.Popen(
        [python, "-m", "uvicorn", kit, "--app-dir", app_dir, "--host", "127.0.0.1",
         "--port", str(platform_port), "--log-level", platform_log_level, "--no-proxy-headers"],
        env=env,
    )  # fmt: skip
    platform_url = f"http://127.0.0.1:{platform_port}"
    if not _wait_http(platform_url + "/", time.monotonic() + 60, platform):
        print("the demo platform did not start; see its messages above", file=sys.stderr, flush=True)
        _stop(platform, "platform")
        _stop(service, "service")
        return 1

    print(f"ccaudit service   {service_url}", flush=True)
    print(f"demo platform     {platform_url}   (log in as alice/demo or bob/demo)", flush=True)
    print(f"admin token       {token}", flush=True)
    print(f'try:  curl -H "Authorization: Bearer {token}" "{service_url}/v1/audit/events?limit=5"', flush=True)
    print(f'      curl -H "Authorization: Bearer {token}" "{service_url}/v1/usage/summary?platform=coop"', flush=True)
    print("Ctrl-C stops everything.", flush=True)

    generator = TrafficGenerator(platform_url, stop) if traffic else None
    if generator is not None:
        generator.start()
    while not stop.is_set():
        if service.poll() is not None or platform.poll() is not None:
            print("a child process exited unexpectedly; stopping", file=sys.stderr, flush=True)
            stop.set()
            break
        stop.wait(0.5)
    if generator is not None:
        generator.join(10)
    # The platform first, so that its recorder can still ship to the service while it stops.
    codes = [_stop(platform, "platform"), _stop(service, "service")]
    print("stopped", flush=True)
    return 0 if all(code in (0, -signal.SIGTERM) for code in codes) else 1
