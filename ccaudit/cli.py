"""The ``ccaudit`` command line: migrate, serve, events, tokens, consent, spool, verify, seal, demo.

Settings come from ``CCAUDIT_*`` environment variables; options override them. Errors print one
line naming what is wrong and exit non-zero (2 for bad settings or arguments, 1 for failures).

Commands that read or write the store act on one deployment and name it first, on stderr: the
service at ``CCAUDIT_SERVICE_URL`` when that is set (and nothing else); otherwise the data folder
``CCAUDIT_DATA_DIR``, through the service that holds it when one runs (``service.json`` in the
folder, checked against the service's ``/health``), or directly when none does; or, with a server
``CCAUDIT_DSN``, that server. No command falls back from one deployment to another.
"""

from __future__ import annotations

import gc
import http.client
import json
import logging
import os
import secrets
import signal
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from ccaudit.errors import CcauditError, ConfigurationError
from ccaudit.logs import configure_logging
from ccaudit.settings import Settings, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Audit logging and analytics for platforms.")
err = Console(stderr=True)
out = Console()
log = logging.getLogger("ccaudit.service")


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _settings(**overrides: Any) -> Settings:
    try:
        settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigurationError as exc:
        _fail(str(exc), 2)
    configure_logging(settings.log_format)
    return settings


@dataclass(frozen=True, slots=True)
class Target:
    """The one deployment a command acts on: a service's API, or the store itself."""

    service_url: str | None
    label: str


def _target(settings: Settings, store_only: bool = False) -> Target:
    """Which deployment the settings point at (see the module docstring), named on stderr.
    ``store_only``: the command works on the store itself, so ``CCAUDIT_SERVICE_URL`` is not one."""
    if "service_url" in settings.model_fields_set and not store_only:
        target = Target(settings.service_url, f"service {settings.service_url} (CCAUDIT_SERVICE_URL)")
    elif not settings.store_dsn.startswith("chdb:"):
        from ccaudit.store.client import describe_dsn

        target = Target(None, f"{describe_dsn(settings.store_dsn)}, database {settings.database} (CCAUDIT_DSN)")
    else:
        from ccaudit.service.presence import read_record

        folder = settings.data_dir.resolve()
        record = read_record(folder)
        if record is not None and _instance_at(record.url) == record.instance:
            target = Target(record.url, f"service {record.url} (data folder {folder})")
        else:
            target = Target(None, f"data folder {folder} (no service running)")
    err.print(f"ccaudit: {target.label}", highlight=False, soft_wrap=True)
    return target


def _instance_at(url: str) -> str | None:
    """The instance id the service at ``url`` reports in /health, or None if none answers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/health", timeout=3) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:  # 503 while its store is down: still that service
        try:
            body = json.load(exc)
        except ValueError:
            return None
    except (OSError, ValueError):
        return None
    instance = body.get("instance") if isinstance(body, dict) else None
    return instance if isinstance(instance, str) else None


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``host:port`` can be bound now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@app.command()
def migrate() -> None:
    """Create or update the store's tables (idempotent)."""
    settings = _settings()
    target = _target(settings, store_only=True)
    if target.service_url is not None:
        _fail(f"the {target.label} holds the store; it applies pending migrations when it starts", 2)
    from ccaudit.store import Store

    try:
        applied = Store.open(settings).migrate()
    except CcauditError as exc:
        _fail(f"{target.label}: {exc}")
    if applied:
        for m in applied:
            out.print(f"applied {m.file_name}")
    else:
        out.print("store is up to date")


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default CCAUDIT_PORT or 8787).")] = None,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate", help="Apply pending migrations.")] = True,
) -> None:
    """Run the service: ingest, health and the read API. Prints where it listens, its store, the
    migrations' state and a ready line."""
    settings = _settings(port=port)
    # Until roles and per-organisation scoping exist, the service only listens on loopback.
    host = "127.0.0.1"
    if not port_free(settings.port, host):
        _fail(f"port {settings.port} on {host} is already in use; choose another with --port or CCAUDIT_PORT", 2)
    import uvicorn

    from ccaudit import __version__
    from ccaudit.service.app import create_app
    from ccaudit.service.connections import ConnectionGuard, fit_to_open_files, guarded_protocol
    from ccaudit.service.presence import ServiceRecord, remove_record, write_record
    from ccaudit.store import Store
    from ccaudit.store.client import describe_dsn, is_embedded
    from ccaudit.store.migrate import load_migrations

    url = f"http://{host}:{settings.port}"
    where = f"{describe_dsn(settings.store_dsn)}, database {settings.database}"
    log.info("ccaudit %s: service %s", __version__, url, extra={"url": url, "version": __version__})
    log.info("store: %s", where, extra={"store": where})
    try:
        store = Store.open(settings)
        applied = store.migrate() if migrate_first else []
        application = create_app(settings, store)
    except CcauditError as exc:
        _fail(f"{where}: {exc}")
    latest = load_migrations()[-1]
    state = f"applied {', '.join(m.file_name for m in applied)}" if applied else "up to date"
    if not migrate_first:
        state = "not checked (--no-migrate)"
    log.info("migrations: %s (latest %s)", state, latest.file_name, extra={"migrations": state})
    if settings.admin_token is None:
        log.warning("CCAUDIT_ADMIN_TOKEN is not set; accounts can only be made with `ccaudit users create`")
    data_dir = settings.data_dir.resolve() if is_embedded(settings.store_dsn) else None
    record = ServiceRecord(url, os.getpid(), application.state.instance)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                if data_dir is not None:
                    write_record(data_dir, record)
                log.info("ready: %s", url, extra={"url": url, "ready": True})

    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown so that the process dies of the
    # signal. A stop on request is a clean stop for us: the re-raised signal lands in a no-op handler.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: None)
    _tune_gc()
    # Slow clients: deadlines for headers and bodies and a connection cap (see ccaudit.service.connections).
    limits = fit_to_open_files(settings.max_connections)
    if limits.max_connections < settings.max_connections:
        log.warning("connections: at most %d, not CCAUDIT_MAX_CONNECTIONS=%d: the open-file limit is %s",
                    limits.max_connections, settings.max_connections, limits.open_files)  # fmt: skip
    guard = ConnectionGuard(settings.header_timeout, settings.body_timeout, limits.max_connections)
    config = uvicorn.Config(application, host=host, port=settings.port, log_level="warning", lifespan="on",
                            log_config=None, http=guarded_protocol(guard), backlog=limits.backlog)  # fmt: skip
    try:
        Server(config).run()
    finally:
        if data_dir is not None:
            remove_record(data_dir, record.instance)
    log.info("stopped")


def _tune_gc() -> None:
    """The service's process only (never a platform's): ingest builds tens of thousands of
    short-lived objects per batch, all alive until the batch is stored. With the default thresholds
    the collector walks them, and everything loaded at start, many times per batch (measured: a
    third of ingest's time). Objects from start are frozen out of collection, and collections run
    every 50,000 allocations instead of 700."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _api(
    settings: Settings, url: str, method: str, path: str, params: dict[str, str] | None = None, body: Any = None
) -> dict[str, Any]:
    """Call the API of the service at ``url``; any failure ends the command with a message naming it."""
    # A personal token reads; the admin token (the bootstrap credential) makes accounts and tokens.
    credential = settings.api_token or settings.admin_token
    if credential is None:
        _fail(
            f"the service at {url} needs a credential: set CCAUDIT_API_TOKEN (ccaudit login) or CCAUDIT_ADMIN_TOKEN", 2
        )
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {credential.get_secret_value()}"}
    data = json.dumps(body).encode() if body is not None else None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        request = urllib.request.Request(f"{url}{path}{query}", data=data, headers=headers, method=method)
        with opener.open(request, timeout=10) as response:
            answer: dict[str, Any] = json.load(response)
            return answer
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace")
        hint = {
            401: "; is the credential (CCAUDIT_API_TOKEN, else CCAUDIT_ADMIN_TOKEN) one of that service's?",
            403: "; the credential's role may not do this (the admin token reads nothing: use CCAUDIT_API_TOKEN)",
        }.get(exc.code, "")
        _fail(f"the service at {url} answered {exc.code}: {detail}{hint}")
    except (OSError, ValueError) as exc:
        _fail(f"no answer from the service at {url}: {exc}")


def _direct_store(settings: Settings, target: Target) -> Any:
    """The store itself, opened by this process (no service holds it)."""
    from ccaudit.store import Store

    try:
        store = Store.open(settings)
        store.migrate()
    except CcauditError as exc:
        _fail(f"cannot open the store ({target.label}): {exc}")
    return store


@app.command()
def secret() -> None:
    """Print a new random secret (256 bits, URL-safe), e.g. for CCAUDIT_ADMIN_TOKEN."""
    sys.stdout.write(secrets.token_urlsafe(32) + "\n")


events_app = typer.Typer(
    invoke_without_command=True,
    help="Audit events: recent ones (no subcommand), search, export.",
)
app.add_typer(events_app, name="events")


@events_app.callback()
def events(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many events.")] = 20,
    platform: Annotated[str | None, typer.Option()] = None,
    organisation: Annotated[str | None, typer.Option()] = None,
    actor: Annotated[str | None, typer.Option(help="Account or profile id.")] = None,
    subject: Annotated[str | None, typer.Option()] = None,
    action: Annotated[str | None, typer.Option()] = None,
    outcome: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """Show recent audit events, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings()
    filters = {
        "limit": str(limit), "platform": platform, "organisation": organisation, "actor": actor,
        "subject": subject, "action": action, "outcome": outcome,
    }  # fmt: skip
    params = {k: v for k, v in filters.items() if v is not None}
    target = _target(settings)
    if target.service_url is not None:
        data = _api(settings, target.service_url, "GET", "/v1/audit/events", params)
    else:
        data = _read_store_directly(settings, target, params)
    _print_events(data.get("events", []), as_json)


def _print_events(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return
    table = Table("time (UTC)", "platform", "org", "actor", "role", "action", "route", "status", "outcome", "client ip")
    for row in rows:
        table.add_row(
            row["event_time"], row["platform"], row["organisation"], row["actor_account_id"] or "-",
            row["actor_role"] or "-", row["action"], row["route"], str(row["status"]), row["outcome"],
            row["client_ip"],
        )  # fmt: skip
    out.print(table)


def _service_only(settings: Settings, what: str) -> str:
    """The service's URL: searches and exports are recorded in its access stream, so they go through it."""
    target = _target(settings)
    if target.service_url is None:
        _fail(
            f"{what} goes through the service's API (its reads are recorded in the access stream): start "
            "`ccaudit serve` on this data folder, or set CCAUDIT_SERVICE_URL",
            2,
        )
    return target.service_url


_QUERY_HELP = "The search box: qualifiers and free text, e.g. actor:anna action:person.* created:>=2026-11-01"


@events_app.command("search")
def events_search(
    query: Annotated[list[str] | None, typer.Argument(help=_QUERY_HELP)] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many events.")] = 20,
    cursor: Annotated[str | None, typer.Option(help="The next page: the cursor the previous page printed.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """Search the audit trail through the service, newest first."""
    settings = _settings()
    url = _service_only(settings, "a search")
    params = {"q": " ".join(query or []), "limit": str(limit), **({"cursor": cursor} if cursor else {})}
    data = _api(settings, url, "GET", "/v1/audit/events", params)
    _print_events(data.get("events", []), as_json)
    if data.get("next_cursor"):
        err.print(f"more: --cursor {data['next_cursor']}", highlight=False)


@events_app.command("export")
def events_export(
    output: Annotated[str, typer.Option("--output", "-o", help="The file to write.")],
    query: Annotated[list[str] | None, typer.Argument(help=_QUERY_HELP)] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
) -> None:
    """Export every matching audit event through the service, streamed to a file, with progress."""
    from pathlib import Path

    from rich.progress import DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    settings = _settings()
    if fmt not in ("csv", "jsonl"):
        _fail("--format: csv or jsonl", 2)
    url = _service_only(settings, "an export")
    params = {"format": fmt, **({"q": " ".join(query)} if query else {})}
    destination = Path(output)
    partial = destination.with_name(destination.name + ".part")
    lines = 0
    # Lines, not rows: a CSV cell may hold a line break. The total is unknown until the end.
    columns = (SpinnerColumn(), TextColumn("exporting"), DownloadColumn(), TextColumn("{task.fields[lines]} lines"))
    progress = Progress(*columns, TimeElapsedColumn(), console=err)
    try:
        with _api_stream(settings, url, "/v1/audit/export", params) as response, partial.open("wb") as file, progress:
            task = progress.add_task("export", total=None, lines=0)
            while chunk := response.read(64 * 1024):
                file.write(chunk)
                lines += chunk.count(b"\n")
                progress.update(task, advance=len(chunk), lines=lines)
    except (OSError, http.client.HTTPException) as exc:
        partial.unlink(missing_ok=True)
        _fail(f"the export from {url} stopped before its end: {exc}")
    partial.replace(destination)
    err.print(f"wrote {destination}", highlight=False)


@contextmanager
def _api_stream(settings: Settings, url: str, path: str, params: dict[str, str]) -> Iterator[Any]:
    """A streamed GET of the service's API; a failure to start ends the command like :func:`_api`'s."""
    credential = settings.api_token or settings.admin_token
    if credential is None:
        _fail(f"the service at {url} needs a credential: set CCAUDIT_API_TOKEN (ccaudit login)", 2)
    headers = {"Authorization": f"Bearer {credential.get_secret_value()}"}
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"{url}{path}?{urllib.parse.urlencode(params)}", headers=headers)
    try:
        response = opener.open(request, timeout=60)
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace")
        _fail(f"the service at {url} answered {exc.code}: {detail}")
    except OSError as exc:
        _fail(f"no answer from the service at {url}: {exc}")
    with response:
        yield response


def _read_store_directly(settings: Settings, target: Target, params: dict[str, str]) -> dict[str, Any]:
    from ccaudit.service.audit_routes import BadParameter, parse_query

    try:
        query = parse_query(params, settings.max_page_size)
    except BadParameter as exc:
        _fail(str(exc), 2)
    rows, cursor = _direct_store(settings, target).search_audit(query)
    return {"events": rows, "next_cursor": cursor}


dashboards_app = typer.Typer(no_args_is_help=True, help="Dashboards: Grafana dashboards from their definitions.")
app.add_typer(dashboards_app, name="dashboards")


@dashboards_app.command("grafana")
def dashboards_grafana(
    out_dir: Annotated[Path, typer.Option("--out", help="The folder to write one <key>.json per dashboard in.")],
    database: Annotated[
        str | None, typer.Option(help="The database the panels read (default CCAUDIT_DATABASE).")
    ] = None,
) -> None:
    """Write the Grafana dashboards (ClickHouse data source), small cells suppressed with
    CCAUDIT_DASHBOARD_MIN_CELL, for Grafana's file provisioning."""
    from ccaudit.dashboards.grafana import grafana_dashboard
    from ccaudit.dashboards.registry import DASHBOARDS

    settings = _settings()
    out_dir.mkdir(parents=True, exist_ok=True)
    for key, dashboard in DASHBOARDS.items():
        document = grafana_dashboard(dashboard, settings.dashboard_min_cell, database or settings.database)
        (out_dir / f"{key}.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    out.print(f"{len(DASHBOARDS)} dashboards written to {out_dir}", highlight=False)


tokens_app = typer.Typer(no_args_is_help=True, help="Platform ingest tokens: create, rotate, revoke, list.")
app.add_typer(tokens_app, name="tokens")


def _token_store(settings: Settings, target: Target) -> Any:
    from ccaudit.store.tokens import TokenStore

    store = _direct_store(settings, target)
    return TokenStore(store.client, store.database)


def _show_token(data: dict[str, Any], quiet: bool = False) -> None:
    if quiet:
        sys.stdout.write(data["token"] + "\n")
        return
    out.print(f"token     {data['token']}", highlight=False)
    out.print(f"id        {data['token_id']}   platform {data['platform']}", highlight=False)
    out.print("Give the token to the platform as CCAUDIT_INGEST_TOKEN; it is not shown again.", highlight=False)


@tokens_app.command("create")
def tokens_create(
    platforms: Annotated[list[str], typer.Argument(help="The platform(s) the token writes for: one token each.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the token(s), one per line.")] = False,
) -> None:
    """Make an ingest token for each platform (shown once)."""
    from ccaudit.store.tokens import InvalidPlatform

    settings = _settings()
    target = _target(settings)
    store: Any = None if target.service_url is not None else _token_store(settings, target)
    for platform in platforms:
        if target.service_url is not None:
            data = _api(settings, target.service_url, "POST", "/v1/admin/tokens", body={"platform": platform})
        else:
            try:
                token, info = store.create(platform)
            except InvalidPlatform as exc:
                _fail(str(exc), 2)
            data = {"token": token, **info.as_dict()}
        if as_json:
            sys.stdout.write(json.dumps(data) + "\n")
        else:
            _show_token(data, quiet)


@tokens_app.command("rotate")
def tokens_rotate(
    platform: Annotated[str, typer.Argument()],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the token.")] = False,
) -> None:
    """Make a new token; the platform's current ones keep working for CCAUDIT_TOKEN_GRACE_SECONDS."""
    from datetime import timedelta

    from ccaudit.store.tokens import InvalidPlatform

    settings = _settings()
    target = _target(settings)
    if target.service_url is not None:
        data = _api(settings, target.service_url, "POST", "/v1/admin/tokens/rotate", body={"platform": platform})
    else:
        grace = timedelta(seconds=settings.token_grace_seconds)
        try:
            token, info = _token_store(settings, target).rotate(platform, grace)
        except InvalidPlatform as exc:
            _fail(str(exc), 2)
        data = {"token": token, **info.as_dict()}
    _show_token(data, quiet)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument(help="The token's id (not the token).")]) -> None:
    """Stop a token now."""
    settings = _settings()
    target = _target(settings)
    if target.service_url is not None:
        path = f"/v1/admin/tokens/{urllib.parse.quote(token_id, safe='')}"
        data = _api(settings, target.service_url, "DELETE", path)
    else:
        info = _token_store(settings, target).revoke(token_id)
        if info is None:
            _fail(f"no token with id {token_id}", 1)
        data = info.as_dict()
    out.print(f"revoked {data['token_id']} ({data['platform']})", highlight=False)


@tokens_app.command("list")
def tokens_list(platform: Annotated[str | None, typer.Option()] = None) -> None:
    """List tokens (never their secrets)."""
    settings = _settings()
    target = _target(settings)
    if target.service_url is not None:
        params = {"platform": platform} if platform else None
        rows = _api(settings, target.service_url, "GET", "/v1/admin/tokens", params)["tokens"]
    else:
        rows = [t.as_dict() for t in _token_store(settings, target).list_tokens(platform)]
    table = Table("id", "platform", "created", "works until")
    for row in rows:
        table.add_row(row["token_id"], row["platform"], row["created_at"], row["not_after"] or "-")
    out.print(table)


users_app = typer.Typer(no_args_is_help=True, help="Accounts: who may read what (roles and organisations).")
app.add_typer(users_app, name="users")


def _account_store(settings: Settings, target: Target) -> Any:
    from ccaudit.access import AccountStore

    store = _direct_store(settings, target)
    return AccountStore(store.client, store.database)


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    entered: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return entered


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Option(help="operator, auditor, dpo, org_admin or learning_manager.")],
    org: Annotated[list[str] | None, typer.Option(help="An organisation the account may see (repeatable).")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Make an account (never with a default password: you type it, or pipe it with --password-stdin)."""
    from ccaudit.access import AccountError

    settings = _settings()
    target = _target(settings)
    password = _password(password_stdin)
    body = {"username": username, "role": role, "organisations": org or [], "password": password}
    if target.service_url is not None:
        data = _api(settings, target.service_url, "POST", "/v1/admin/accounts", body=body)
    else:
        try:
            data = _account_store(settings, target).create(username, role, org or [], password).as_dict()
        except AccountError as exc:
            _fail(str(exc), 2)
    out.print(f"account {data['account_id']}  {data['username']}  {data['role']}  "
              f"{', '.join(data['organisations']) or '(every organisation)'}", highlight=False)  # fmt: skip


@users_app.command("list")
def users_list() -> None:
    """List accounts (never their passwords)."""
    settings = _settings()
    target = _target(settings)
    if target.service_url is not None:
        rows = _api(settings, target.service_url, "GET", "/v1/admin/accounts")["accounts"]
    else:
        rows = [a.as_dict() for a in _account_store(settings, target).list_accounts()]
    table = Table("id", "username", "role", "organisations", "disabled")
    for row in rows:
        table.add_row(row["account_id"], row["username"], row["role"], ", ".join(row["organisations"]) or "-",
                      "yes" if row["disabled"] else "")  # fmt: skip
    out.print(table)


@users_app.command("disable")
def users_disable(account_id: Annotated[str, typer.Argument()]) -> None:
    """Disable an account now: its tokens stop working too."""
    settings = _settings()
    target = _target(settings)
    if target.service_url is not None:
        path = f"/v1/admin/accounts/{urllib.parse.quote(account_id, safe='')}"
        data = _api(settings, target.service_url, "DELETE", path)
    else:
        account = _account_store(settings, target).disable(account_id)
        if account is None:
            _fail(f"no account with id {account_id}")
        data = account.as_dict()
    out.print(f"disabled {data['account_id']} ({data['username']})", highlight=False)


@app.command()
def login(
    username: Annotated[str, typer.Argument()],
    days: Annotated[int, typer.Option(min=1, max=366, help="How long the token works.")] = 90,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Get a personal API token for an account (printed once): give it to the command line as
    CCAUDIT_API_TOKEN."""
    import base64

    settings = _settings()
    target = _target(settings)
    password = sys.stdin.readline().rstrip("\n") if password_stdin else typer.prompt("password", hide_input=True)
    if target.service_url is not None:
        basic = base64.b64encode(f"{username}:{password}".encode()).decode()
        url = f"{target.service_url}/v1/me/tokens"
        headers = {"Content-Type": "application/json", "Authorization": f"Basic {basic}"}
        request = urllib.request.Request(url, data=json.dumps({"days": days}).encode(), headers=headers, method="POST")
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30) as response:
                token = json.load(response)["token"]
        except urllib.error.HTTPError as exc:
            refused = "wrong username or password, or too many tries"
            _fail(f"the service at {target.service_url} answered {exc.code}: {refused}")
        except (OSError, ValueError) as exc:
            _fail(f"no answer from the service at {target.service_url}: {exc}")
    else:
        from ccaudit.access import AccountStore, ApiTokenStore
        from ccaudit.access.roles import ROLE_PERMISSIONS

        store = _direct_store(settings, target)
        account = AccountStore(store.client, store.database).verify_password(username, password)
        if account is None:
            _fail("wrong username or password")
        token, _ = ApiTokenStore(store.client, store.database).create_personal(
            account.account_id, ROLE_PERMISSIONS[account.role], days
        )
    sys.stdout.write(token + "\n")


@app.command("register")
def register_command(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the processing register: streams per platform, purposes, legal basis, consent, retention."""
    from ccaudit.register import PURPOSES

    register = _settings().processing_register
    if as_json:
        sys.stdout.write(json.dumps(register.describe(), indent=2) + "\n")
        return
    table = Table("platform", "stream", "purposes", "legal basis", "consent category", "retention (days)")
    for platform, streams in [("(default)", register.default), *register.platforms.items()]:
        for stream, declaration in streams.items():
            table.add_row(
                platform, stream, ", ".join(declaration.purposes), declaration.legal_basis,
                declaration.consent_category or "-", str(declaration.retention_days),
            )  # fmt: skip
    out.print(table)
    for code, meaning in PURPOSES.items():
        out.print(f"{code}  {meaning}", highlight=False)


consent_app = typer.Typer(no_args_is_help=True, help="Consent: why a visitor is (not) counted.")
app.add_typer(consent_app, name="consent")


def _parse_header_block(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() and " " not in name.strip():
            key = name.strip().lower()
            headers[key] = f"{headers[key]}; {value.strip()}" if key == "cookie" and key in headers else value.strip()
    return headers


@consent_app.command("decide")
def consent_decide(
    cookie: Annotated[str | None, typer.Option(help="The Cookie header's value.")] = None,
    header: Annotated[list[str] | None, typer.Option(help="Another header, 'Name: value' (repeatable).")] = None,
    stdin: Annotated[bool, typer.Option("--stdin", help="Read a raw header block from standard input.")] = False,
    platform: Annotated[
        str | None, typer.Option(help="Whose register's consent category (default CCAUDIT_PLATFORM).")
    ] = None,
) -> None:
    """Print the consent decision for a request's headers, with its reason, as JSON."""
    from ccaudit.consent.decision import decide
    from ccaudit.consent.policy import policy_from_settings

    settings = _settings(platform=platform)
    headers = _parse_header_block(sys.stdin.read()) if stdin else {}
    headers.update(_parse_header_block("\n".join(header or [])))
    if cookie is not None:
        headers["cookie"] = cookie
    usage = settings.processing_register.declaration(settings.platform, "usage")
    if usage is None or usage.consent_category is None:
        _fail(f"the processing register declares no usage stream for platform {settings.platform!r}", 2)
    policy = policy_from_settings(settings)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    decision = decide(policy, now_ms, headers.get("cookie"), headers.get("sec-gpc"), headers.get("dnt"),
                      usage.consent_category)  # fmt: skip
    result = {"platform": settings.platform, "category": usage.consent_category, **decision._asdict()}
    sys.stdout.write(json.dumps(result) + "\n")


@consent_app.command("show")
def consent_show(
    consent_id: Annotated[str, typer.Argument(help="The pseudonymous consent id (from the consent cookie).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A consent's history: every receipt, oldest first."""
    from ccaudit.consent.receipts import ReceiptError, canonical_consent_id

    settings = _settings()
    try:
        # Receipts are stored under the canonical lower-case form: any other spelling finds nothing.
        consent_id = canonical_consent_id(consent_id)
    except ReceiptError:
        _fail(f"{consent_id!r} is not a consent id (a UUID)", 2)
    target = _target(settings)
    if target.service_url is not None:
        data = _api(settings, target.service_url, "GET", f"/v1/consent/{consent_id}")
    else:
        receipts = _direct_store(settings, target).consent_history(consent_id)
        data = {"consent_id": consent_id, "receipts": receipts}
    if as_json:
        sys.stdout.write(json.dumps(data) + "\n")
        return
    table = Table("time (UTC)", "action", "method", "accepted", "rejected", "revision", "account", "gpc/dnt")
    for r in data["receipts"]:
        table.add_row(
            str(r["event_time"]), r["action"], r["method"], ", ".join(r["categories_accepted"]),
            ", ".join(r["categories_rejected"]), str(r["policy_revision"]), r["account_id"] or "-",
            f"{r['gpc']}/{r['dnt']}",
        )  # fmt: skip
    out.print(table)
    if not data["receipts"]:
        _fail(f"no receipts for consent {consent_id}")


spool_app = typer.Typer(no_args_is_help=True, help="The platform's local spool of audit events.")
app.add_typer(spool_app, name="spool")


def _open_spool(settings: Settings, announce: bool = True) -> Any:
    from ccaudit.shipping.spool import Spool

    path = settings.spool_file
    if announce:
        err.print(f"ccaudit: spool {path} (platform {settings.platform})", highlight=False, soft_wrap=True)
    if not path.exists():
        _fail(f"no spool at {path} (set CCAUDIT_SPOOL_PATH, or CCAUDIT_PLATFORM for the default place)")
    return Spool(
        path,
        max_events=settings.spool_max_events,
        max_age=settings.spool_max_age_days * 86400.0,
        dead_max_age=settings.dead_letter_max_age_days * 86400.0,
    )


@spool_app.command("status")
def spool_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Events waiting, the oldest one's age, dead letters."""
    settings = _settings()
    status = _open_spool(settings).status()
    data = {
        "path": str(settings.spool_file),
        "platform": settings.platform,
        "depth": status.depth,
        "ready": status.ready,
        "oldest_age_seconds": round(status.oldest_age, 1),
        "dead_letters": status.dead_letters,
        "max_events": status.max_events,
    }
    if as_json:
        sys.stdout.write(json.dumps(data) + "\n")
        return
    for key, value in data.items():
        out.print(f"{key:20} {value}", highlight=False)


@spool_app.command("drain")
def spool_drain(timeout: Annotated[float, typer.Option(help="Seconds to try.")] = 60.0) -> None:
    """Ship everything in the spool now; exit 1 if some is left when the time is up."""
    from ccaudit.shipping.recorder import build_recorder

    settings = _settings()
    _open_spool(settings)  # fails clearly when there is no spool
    err.print(f"ccaudit: shipping to the service {settings.service_url}", highlight=False, soft_wrap=True)
    recorder = build_recorder(settings)
    try:
        drained = recorder.force_flush(timeout)
    finally:
        recorder.shutdown(5)
    status = _open_spool(settings, announce=False).status()
    out.print(f"shipped {recorder.stats()['shipped']}, left {status.depth}, dead letters {status.dead_letters}")
    if not drained:
        _fail(f"{status.depth} events are still in the spool (is the service at {settings.service_url} up?)")


@spool_app.command("dead-letters")
def spool_dead_letters(
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    requeue: Annotated[bool, typer.Option("--requeue", help="Put them all back into the spool.")] = False,
) -> None:
    """Events the service refused, with the reason; --requeue sends them again (after a fix)."""
    spool = _open_spool(_settings())
    if requeue:
        out.print(f"requeued {spool.requeue_dead_letters()}")
        return
    table = Table("seq", "event id", "failed at (UTC)", "reason")
    for seq, event_id, reason, failed_at, _ in spool.dead_letters(limit):
        when = datetime.fromtimestamp(failed_at, UTC).isoformat(timespec="seconds")
        table.add_row(str(seq), event_id, when, reason[:200])
    out.print(table)


seal_app = typer.Typer(no_args_is_help=True, help="Tamper evidence: the sealing key (see docs/tamper-evidence.md).")
app.add_typer(seal_app, name="seal")


@seal_app.command("rotate-key")
def seal_rotate_key() -> None:
    """Make a new sealing key; the next seal uses it. The old private key is deleted, its public key
    stays listed in public-keys.json (and in the seal folder when the service next seals)."""
    from ccaudit.seal import keys

    settings = _settings()
    key_id = keys.rotate(settings.seal_key_path)
    out.print(f"sealing key {key_id} in {settings.seal_key_path}", highlight=False)


@seal_app.command("public-keys")
def seal_public_keys() -> None:
    """Print every public key the seals may name, as JSON (key id → raw Ed25519 key, hex)."""
    from ccaudit.seal import keys

    settings = _settings()
    found = keys.read_public_keys(keys.public_keys_file(settings.seal_key_path))
    if not found:
        _fail(f"no public keys in {keys.public_keys_file(settings.seal_key_path)}: has the service sealed yet?")
    sys.stdout.write(json.dumps(found, indent=2, sort_keys=True) + "\n")


def _epoch_ms(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"{name}: not an ISO 8601 date or time: {value!r}", 2)
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


@app.command()
def verify(
    platform: Annotated[str | None, typer.Option(help="Only this platform's chains.")] = None,
    stream: Annotated[str | None, typer.Option(help="Only this stream: audit, consent or access.")] = None,
    since: Annotated[str | None, typer.Option("--from", help="Periods from this ISO 8601 time (UTC).")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Periods before this ISO 8601 time (UTC).")] = None,
    trusted_head: Annotated[
        list[str] | None, typer.Option(help="<platform>/<stream>:<seq>:<hash>, a head kept outside; repeatable.")
    ] = None,
    export: Annotated[
        str | None, typer.Option(help="Verify this JSON Lines export of the audit trail instead of a store.")
    ] = None,
    seals: Annotated[str | None, typer.Option(help="The seal folder (default CCAUDIT_SEAL_DIR).")] = None,
    public_keys: Annotated[
        str | None, typer.Option(help="A public-keys.json to trust (default: beside the key, and the folder's).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute what was sealed and name what changed: rows modified, removed, inserted; seals missing,
    altered, reordered. Exit 0 when nothing was found, 1 otherwise."""
    from pathlib import Path

    from rich.progress import Progress

    from ccaudit.seal import keys
    from ccaudit.seal.verify import TrustedHead, load_public_keys, verify_export, verify_store

    settings = _settings()
    try:
        heads = [TrustedHead.parse(h) for h in trusted_head or []]
    except ValueError as exc:
        _fail(f"--trusted-head: {exc}", 2)
    folder = Path(seals) if seals else settings.seal_folder
    if public_keys:
        trusted = load_public_keys(Path(public_keys))
    else:
        trusted = load_public_keys(keys.public_keys_file(settings.seal_key_path), folder / keys.PUBLIC_KEYS)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    start_ms, end_ms = _epoch_ms("--from", since), _epoch_ms("--to", until)
    with Progress(console=err, transient=True, disable=as_json) as bar:
        task = bar.add_task("verifying", total=None)

        def progress(label: str, done: int, total: int) -> None:
            bar.update(task, description=f"verifying {label}", completed=done, total=total)

        if export is not None:
            report = verify_export(Path(export), folder, trusted, heads=heads, now_ms=now_ms, progress=progress)
            body = report.as_dict()
        else:
            target = _target(settings, store_only=False)
            if target.service_url is not None:
                query = {"platform": platform, "stream": stream, "since": since, "until": until}
                params = {k: v for k, v in query.items() if v is not None}
                if trusted_head:
                    params["trusted_head"] = ",".join(trusted_head)
                body = _api(settings, target.service_url, "GET", "/v1/verify", params)
            else:
                from ccaudit.seal.store import SealStore

                store = _direct_store(settings, target)
                report = verify_store(SealStore(store.client, store.database), folder, trusted, platform=platform,
                                      stream=stream, start_ms=start_ms, end_ms=end_ms, heads=heads, now_ms=now_ms,
                                      progress=progress)  # fmt: skip
                body = report.as_dict()
    if as_json:
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
    else:
        for finding in body["findings"]:
            where = ", ".join(f"{k} {v}" for k, v in finding.items() if k not in ("kind", "platform", "stream"))
            out.print(f"[red]{finding['kind']}[/] {finding['platform']}/{finding['stream']}: {where}", highlight=False)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(body["counts"].items()))
        verdict = "[green]verified[/]" if body["ok"] else f"[red]{len(body['findings'])} finding(s)[/]"
        out.print(f"{verdict}: {counts}", highlight=False)
    raise typer.Exit(0 if body["ok"] else 1)


@app.command()
def demo(
    service_port: Annotated[int, typer.Option(envvar="DEMO_SERVICE_PORT")] = 8787,
    platform_port: Annotated[int, typer.Option(envvar="DEMO_PLATFORM_PORT", help="The Starlette kit's port.")] = 8788,
    flask_port: Annotated[int, typer.Option(envvar="DEMO_FLASK_PORT", help="The Flask kit's port.")] = 8789,
    django_port: Annotated[int, typer.Option(envvar="DEMO_DJANGO_PORT", help="The Django kit's port.")] = 8790,
    kit: Annotated[str, typer.Option(help="The platform app to run.")] = "middleware.starlette_kit.app:app",
    app_dir: Annotated[str, typer.Option(help="Folder to import the kits from.")] = ".",
    traffic: Annotated[bool, typer.Option("--traffic/--no-traffic")] = True,
) -> None:
    """Start the service and the demo platforms with generated traffic, until Ctrl-C or SIGTERM."""
    from ccaudit.demo import run_demo

    settings = _settings()
    ports = (
        ("--service-port", service_port, "SERVICE_PORT"),
        ("--platform-port", platform_port, "PLATFORM_PORT"),
        ("--flask-port", flask_port, "FLASK_PORT"),
        ("--django-port", django_port, "DJANGO_PORT"),
    )
    for name, port, make_var in ports:
        if not port_free(port):
            _fail(f"port {port} is already in use; choose another with {name} (or make run {make_var}=...)", 2)
    if len({port for _, port, _ in ports}) != len(ports):
        _fail("--service-port, --platform-port, --flask-port and --django-port must all differ", 2)
    raise typer.Exit(run_demo(settings, service_port, platform_port, kit, app_dir, traffic, flask_port, django_port))


def _rights_commands() -> None:
    # Their own module (ccaudit.rights.cli), which uses this one's helpers: added once this one is built.
    from ccaudit.rights.cli import retention_app, subject_app

    app.add_typer(retention_app, name="retention")
    app.add_typer(subject_app, name="subject")


_rights_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
