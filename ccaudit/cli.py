"""The ``ccaudit`` command line: migrate, serve, events, demo.

Settings come from ``CCAUDIT_*`` environment variables; options override them. Errors print one
line naming what is wrong and exit non-zero (2 for bad settings or arguments, 1 for failures).
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from ccaudit.errors import CcauditError, ConfigurationError
from ccaudit.settings import Settings, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Audit logging and analytics for platforms.")
err = Console(stderr=True)
out = Console()


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigurationError as exc:
        _fail(str(exc), 2)


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
    from ccaudit.store import Store

    try:
        applied = Store.open(settings).migrate()
    except CcauditError as exc:
        _fail(str(exc))
    if applied:
        for m in applied:
            out.print(f"applied {m.version:04d}_{m.name}")
    else:
        out.print("store is up to date")


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default CCAUDIT_PORT or 8787).")] = None,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate", help="Apply pending migrations.")] = True,
) -> None:
    """Run the service: ingest, health and the read API."""
    settings = _settings(port=port)
    # Until roles and per-organisation scoping exist, the service only listens on loopback.
    host = "127.0.0.1"
    if not port_free(settings.port, host):
        _fail(f"port {settings.port} on {host} is already in use; choose another with --port or CCAUDIT_PORT", 2)
    import uvicorn

    from ccaudit.service.app import create_app
    from ccaudit.store import Store

    try:
        store = Store.open(settings)
        if migrate_first:
            store.migrate()
        application = create_app(settings, store)
    except CcauditError as exc:
        _fail(str(exc))
    if settings.admin_token is None:
        err.print("warning: CCAUDIT_ADMIN_TOKEN is not set; the read API refuses every request", highlight=False)
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown so that the process dies of the
    # signal. A stop on request is a clean stop for us: the re-raised signal lands in a no-op handler.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: None)
    uvicorn.run(application, host=host, port=settings.port, log_level="warning", lifespan="on")


def _api_get(settings: Settings, path: str, params: dict[str, str]) -> dict[str, Any] | None:
    """GET from the running service; None when no service answers at service_url."""
    url = f"{settings.service_url}{path}?{urllib.parse.urlencode(params)}"
    headers = {}
    if settings.admin_token is not None:
        headers["Authorization"] = f"Bearer {settings.admin_token.get_secret_value()}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=10) as response:
            data: dict[str, Any] = json.load(response)
            return data
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace")
        _fail(f"the service answered {exc.code}: {detail}")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


@app.command()
def events(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many events.")] = 20,
    platform: Annotated[str | None, typer.Option()] = None,
    organisation: Annotated[str | None, typer.Option()] = None,
    actor: Annotated[str | None, typer.Option(help="Account or profile id.")] = None,
    subject: Annotated[str | None, typer.Option()] = None,
    action: Annotated[str | None, typer.Option()] = None,
    outcome: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """Show recent audit events: from the running service, or the embedded store if none runs."""
    settings = _settings()
    filters = {
        "limit": str(limit), "platform": platform, "organisation": organisation, "actor": actor,
        "subject": subject, "action": action, "outcome": outcome,
    }  # fmt: skip
    params = {k: v for k, v in filters.items() if v is not None}
    data = _api_get(settings, "/v1/audit/events", params)
    if data is None:
        data = _read_store_directly(settings, params)
    rows = data.get("events", [])
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return
    table = Table("time (UTC)", "platform", "org", "actor", "role", "action", "route", "status", "outcome", "client ip")
    for row in rows:
        table.add_row(
            row["event_time"], row["platform"], row["organisation"], row["actor_account_id"] or "-",
            row["actor_role"], row["action"], row["route"], str(row["status"]), row["outcome"], row["client_ip"],
        )  # fmt: skip
    out.print(table)


def _read_store_directly(settings: Settings, params: dict[str, str]) -> dict[str, Any]:
    from ccaudit.service.audit_routes import BadParameter, parse_query
    from ccaudit.store import Store
    from ccaudit.store.client import is_embedded

    if not is_embedded(settings.store_dsn):
        _fail(f"no service answers at {settings.service_url}")
    try:
        query = parse_query(params, settings.max_page_size)
        store = Store.open(settings)
        rows, cursor = store.search_audit(query)
    except BadParameter as exc:
        _fail(str(exc), 2)
    except CcauditError as exc:
        _fail(f"no service answers at {settings.service_url}, and the embedded store cannot be opened: {exc}")
    return {"events": rows, "next_cursor": cursor}


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
