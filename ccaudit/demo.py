"""The launcher behind ``make run``: migrate, start the service and three demo platforms, drive traffic.

The platforms: the Starlette kit under uvicorn, the Flask and Django kits under gunicorn (two
workers, ``--preload``). It prints the service URL first (``ccaudit service  http://127.0.0.1:<port>``),
then the platforms' and the admin token for the read API, runs until SIGINT or SIGTERM, then stops its children (each
bounded) and exits 0. The test suite starts this same launcher, so it cannot rot.
"""

from __future__ import annotations

import http.cookiejar
import json
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
from pathlib import Path
from types import FrameType
from typing import NamedTuple

from ccaudit.consent import ConsentRecord, encode_consent_cookie
from ccaudit.settings import Settings

_STOP_TIMEOUT = 15.0
# Each kit and the platform name it records under (set in the kit's own code).
_PLATFORMS = {"platform": "coop", "flask": "learning", "django": "library"}
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


def _read_token(service_url: str, admin_token: str, platform: str, scopes: list[str]) -> str:
    """A platform read token made through the service's admin API."""
    request = urllib.request.Request(
        service_url + "/v1/admin/read-tokens",
        data=json.dumps({"platform": platform, "scopes": scopes}).encode(),
        headers={"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        made: dict[str, str] = json.loads(response.read())
    return made["token"]


class Script(NamedTuple):
    """A kit's paths, so one generator plays the same story on every platform."""

    public: tuple[str, ...]
    admin_list: str
    admin_record: str  # with {id}
    record_ids: tuple[str, ...]
    user_action: str
    user_form: tuple[str, str]


STARLETTE = Script(
    ("/", "/about"), "/admin/users", "/admin/users/{id}", ("100", "101", "102"), "/posts", ("title", "post")
)
FLASK = Script(
    ("/", "/modules"), "/admin/learners", "/admin/learners/{id}", ("200", "201", "202"),
    "/modules/privacy-101/enrol", ("note", "enrol"),
)  # fmt: skip
DJANGO = Script(
    ("/", "/books"), "/admin/members", "/admin/members/{id}", ("300", "301", "302"), "/books/1/borrow", ("note", "loan")
)


class TrafficGenerator(threading.Thread):
    """Plays admins, users, failed logins, errors and visitors against a demo platform."""

    def __init__(self, base_url: str, stop: threading.Event, pause: float = 1.0, script: Script = STARLETTE) -> None:
        super().__init__(name="demo-traffic", daemon=True)
        self.base = base_url
        self.stop = stop
        self.pause = pause
        self.script = script
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
        script = self.script
        round_no = 0
        while not self.stop.is_set():
            round_no += 1
            admin, user, visitor = self._client(), self._client(), self._client()
            # Visitors: one who accepted analytics (as a banner would have recorded), one who did not
            # answer the banner, one whose browser sends Global Privacy Control, and a crawler.
            consent = f"ccaudit_consent={_demo_consent()}"
            for path in script.public:
                self._call(visitor, path, extra={"Cookie": consent, "Referer": "https://www.example.org/news"})
                self._call(visitor, path)
            self._call(visitor, script.public[0], extra={"Cookie": consent, "Sec-GPC": "1"})
            self._call(visitor, script.public[0], extra={"Cookie": consent, "User-Agent": _CRAWLER})
            record = script.admin_record.format(id=script.record_ids[round_no % len(script.record_ids)])
            self._call(admin, "/login", {"username": "alice", "password": "demo"})
            self._call(admin, script.admin_list)
            self._call(admin, record)
            self._call(admin, record, {"name": f"Name {round_no}"})
            self._call(user, "/login", {"username": "bob", "password": "demo"})
            field, value = script.user_form
            self._call(user, script.user_action, {field: f"{value} {round_no}"})
            self._call(user, "/me/profile", {"display_name": f"Bob {round_no}"})
            if round_no % 3 == 0:
                self._call(visitor, "/login", {"username": "mallory", "password": "guess"})
            if round_no % 5 == 0:
                self._call(admin, "/admin/boom", {})
            self._call(admin, "/logout", {})
            self.stop.wait(self.pause)


class Platform(NamedTuple):
    name: str
    label: str
    proc: subprocess.Popen[bytes]
    url: str
    script: Script
    log: Path | None


def _gunicorn(
    python: str, app: str, port: int, app_dir: str, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    # The demo's traffic includes a route that raises on purpose, and Flask and Django log its
    # traceback to the server's error stream: it goes to a file, not over the launcher's output.
    handle = log.open("ab")
    try:
        return subprocess.Popen(
            [python, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--preload",
             "--chdir", app_dir, app],
            env=env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    finally:
        handle.close()


def run_demo(
    settings: Settings,
    service_port: int,
    platform_port: int,
    kit: str,
    app_dir: str,
    traffic: bool,
    flask_port: int | None = None,
    django_port: int | None = None,
) -> int:
    """Run until a signal; returns the process exit code. The WSGI kits start when given a port."""
    token = settings.admin_token.get_secret_value() if settings.admin_token else secrets.token_urlsafe(24)
    data_dir = settings.data_dir.resolve()
    env = dict(os.environ)
    env.update(
        CCAUDIT_ADMIN_TOKEN=token,
        CCAUDIT_PORT=str(service_port),
        CCAUDIT_SERVICE_URL=f"http://127.0.0.1:{service_port}",
        CCAUDIT_DATA_DIR=str(data_dir),
    )
    env.setdefault("CCAUDIT_FLUSH_INTERVAL", "0.5")
    python = sys.executable
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # Before the service runs, the store's commands act on the data folder itself: without the
    # service URL, which would make them talk to a service that is not there yet.
    store_env = {k: v for k, v in env.items() if k != "CCAUDIT_SERVICE_URL"}
    migrated = subprocess.run([python, "-m", "ccaudit", "migrate"], env=store_env)
    if migrated.returncode != 0:
        return migrated.returncode
    # The platforms' ingest tokens, made straight in the store before the service holds it.
    made = subprocess.run(
        [python, "-m", "ccaudit", "tokens", "create", "--json", *_PLATFORMS.values()],
        env=store_env, capture_output=True, text=True,
    )  # fmt: skip
    if made.returncode != 0:
        print(made.stderr, file=sys.stderr, flush=True)
        return made.returncode
    ingest_tokens = {row["platform"]: row["token"] for row in map(json.loads, made.stdout.splitlines())}
    # Past days for the dashboards (ccaudit.demo_history), also written before the service holds the store.
    history = subprocess.run([python, "-m", "ccaudit.demo_history"], env=store_env, capture_output=True, text=True)
    if history.returncode != 0:
        print(history.stderr, file=sys.stderr, flush=True)
        return history.returncode
    # Demo accounts, each with a password of this run (never a default one), and a personal token
    # for the auditor, so that the read API can be tried at once.
    accounts: list[tuple[str, str, str]] = []
    demo_accounts: tuple[tuple[str, str, list[str]], ...] = (
        ("auditor", "auditor", []),
        ("dpo", "dpo", []),
        ("gemeente-admin", "org_admin", ["gemeente-a"]),
        ("operator", "operator", []),
        ("leermanager", "learning_manager", ["gemeente-a"]),
    )
    for username, role, orgs in demo_accounts:
        password = secrets.token_urlsafe(12)
        args = [python, "-m", "ccaudit", "users", "create", username, "--role", role, "--password-stdin"]
        args += [arg for org in orgs for arg in ("--org", org)]
        created = subprocess.run(args, env=store_env, input=password + "\n", capture_output=True, text=True)
        if created.returncode != 0:
            print(created.stderr, file=sys.stderr, flush=True)
            return created.returncode
        accounts.append((username, role, password))
    logged_in = subprocess.run([python, "-m", "ccaudit", "login", "auditor", "--password-stdin"], env=store_env,
                               input=accounts[0][2] + "\n", capture_output=True, text=True)  # fmt: skip
    if logged_in.returncode != 0:
        print(logged_in.stderr, file=sys.stderr, flush=True)
        return logged_in.returncode
    reader = logged_in.stdout.strip()

    eligibility_token = ""

    def env_for(kit_name: str) -> dict[str, str]:
        kit_env = {**env, "CCAUDIT_INGEST_TOKEN": ingest_tokens[_PLATFORMS[kit_name]]}
        if kit_name == "flask" and eligibility_token:
            kit_env["FLASK_KIT_ELIGIBILITY_TOKEN"] = eligibility_token
        return kit_env

    # The Flask kit's course: the service's catalogue is made from the same file the kit reads.
    catalogue = Path(app_dir).resolve() / "middleware" / "flask_kit" / "catalogue.json"
    service_env = dict(env)
    if catalogue.is_file():
        service_env.setdefault("CCAUDIT_LEARNING_CATALOGUE_FILE", str(catalogue))
    service = subprocess.Popen([python, "-m", "ccaudit", "serve", "--no-migrate"], env=service_env)
    service_url = f"http://127.0.0.1:{service_port}"
    if not _wait_http(service_url + "/health", time.monotonic() + 60, service):
        print("the service did not start; see its messages above", file=sys.stderr, flush=True)
        _stop(service, "service")
        return 1
    if flask_port is not None:
        # The learning platform asks the service whether a learner may open its follow-up module.
        eligibility_token = _read_token(service_url, token, _PLATFORMS["flask"], ["eligibility:read"])
    # uvicorn logs only critical messages: the erroring route's tracebacks would drown the output.
    platform_log_level = "critical" if traffic else "warning"
    platforms: list[Platform] = []
    starlette = subprocess.Popen(
        [python, "-m", "uvicorn", kit, "--app-dir", app_dir, "--host", "127.0.0.1",
         "--port", str(platform_port), "--log-level", platform_log_level, "--no-proxy-headers"],
        env=env_for("platform"),
    )  # fmt: skip
    platforms.append(
        Platform("platform", "demo platform", starlette, f"http://127.0.0.1:{platform_port}", STARLETTE, None)
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, label, app, port, script in (
        ("flask", "flask platform", "middleware.flask_kit.app:app", flask_port, FLASK),
        ("django", "django platform", "middleware.django_kit.wsgi", django_port, DJANGO),
    ):
        if port is not None:
            log = data_dir / f"{name}-kit.log"
            proc = _gunicorn(python, app, port, app_dir, env_for(name), log)
            platforms.append(Platform(name, label, proc, f"http://127.0.0.1:{port}", script, log))
    for platform in platforms:
        if not _wait_http(platform.url + "/", time.monotonic() + 60, platform.proc):
            where = f"see {platform.log}" if platform.log else "see its messages above"
            print(f"the {platform.label} did not start; {where}", file=sys.stderr, flush=True)
            for other in platforms:
                _stop(other.proc, other.name)
            _stop(service, "service")
            return 1

    print(f"ccaudit service   {service_url}", flush=True)
    for platform in platforms:
        print(f"{platform.label:<17} {platform.url}   (log in as alice/demo or bob/demo)", flush=True)
    print(f"console           {service_url}/console   (log in with an account below)", flush=True)
    print(f"dashboards        {service_url}/console/dashboards   ({history.stdout.strip()})", flush=True)
    print(f"admin token       {token}   (bootstrap: makes accounts and tokens, reads nothing)", flush=True)
    for username, role, password in accounts:
        print(f"account           {username} / {password}   ({role})", flush=True)
    print(f"reader token      {reader}   (the auditor's personal token)", flush=True)
    print(f'try:  curl -H "Authorization: Bearer {reader}" "{service_url}/v1/audit/events?limit=5"', flush=True)
    print(f'      curl -H "Authorization: Bearer {reader}" "{service_url}/v1/usage/summary?platform=coop"', flush=True)
    print("      CCAUDIT_API_TOKEN=$(ccaudit login dpo) ccaudit consent show <consent id>", flush=True)
    if flask_port is not None:
        learn = f"http://127.0.0.1:{flask_port}"
        print(f"learning          {learn}/learn/privacy-201   (log in as bob/demo: the follow-up module says what "
              f"is missing; finish the lessons at {learn}/learn/privacy-101, and it opens)", flush=True)  # fmt: skip
        print(f'      curl -H "Authorization: Bearer {eligibility_token}" '
              f'"{service_url}/v1/eligibility/bob/privacy-201"   (the platform\'s read token)', flush=True)  # fmt: skip
    logs = [str(p.log) for p in platforms if p.log is not None]
    if logs:
        print(f"WSGI kits' logs:  {'  '.join(logs)}", flush=True)
    print("Ctrl-C stops everything.", flush=True)

    generators = [TrafficGenerator(p.url, stop, script=p.script) for p in platforms] if traffic else []
    for generator in generators:
        generator.start()
    while not stop.is_set():
        if service.poll() is not None or any(p.proc.poll() is not None for p in platforms):
            print("a child process exited unexpectedly; stopping", file=sys.stderr, flush=True)
            stop.set()
            break
        stop.wait(0.5)
    for generator in generators:
        generator.join(10)
    # The platforms first, so that their recorders can still ship to the service while they stop.
    codes = [_stop(p.proc, p.name) for p in platforms]
    codes.append(_stop(service, "service"))
    print("stopped", flush=True)
    return 0 if all(code in (0, -signal.SIGTERM) for code in codes) else 1
