"""``ccaudit retention`` and ``ccaudit subject``: the retention job, legal holds and data-subject
rights from the command line. Subject commands go through the service's API when a service holds
the store (CCAUDIT_API_TOKEN of a dpo account), else to the store directly, as do ``retention run``
and ``retention apply``; legal holds are placed on the store itself or through the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from ccaudit import cli as base

retention_app = typer.Typer(no_args_is_help=True, help="Retention by last use, TTLs and legal holds.")
subject_app = typer.Typer(no_args_is_help=True, help="Data-subject rights: export, erase, restrict, object, rectify.")
CLI_ACTOR = "cli"


def _store_only() -> tuple[Any, Any]:
    settings = base._settings()
    target = base._target(settings, store_only=True)
    if target.service_url is not None:
        base._fail(f"the {target.label} holds the store: use the API (POST /v1/retention/holds)", 2)
    return settings, base._direct_store(settings, target)


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be erased.")] = False,
) -> None:
    """Erase (or pseudonymise, as the register says) accounts unused longer than the register allows."""
    from ccaudit.rights import retention

    settings = base._settings()
    target = base._target(settings)
    if target.service_url is not None:
        data = base._api(settings, target.service_url, "POST", "/v1/retention/run", body={"dry_run": dry_run})
    else:
        store = base._direct_store(settings, target)
        with Progress(console=base.err, transient=True) as progress:
            task = progress.add_task("erasing", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            data = retention.run(store, settings, datetime.now(UTC), dry_run=dry_run, progress=advance).as_dict()
    table = Table("platform", "account", "last use", "why", "streams")
    for due in data["due"]:
        table.add_row(due["platform"], due["account_id"], due["last_use"], due["reason"], ", ".join(due["streams"]))
    base.out.print(table)
    verb = "would erase" if dry_run else "erased"
    base.out.print(f"{verb} {data['accounts']} accounts; rows: {data['rows']} {data['tables']}")


@retention_app.command("apply")
def retention_apply(dry_run: Annotated[bool, typer.Option("--dry-run")] = False) -> None:
    """Bring every row's retention (which its TTL reads) in line with the register; print what changed."""
    from dataclasses import asdict

    from ccaudit.rights import retention

    settings = base._settings()
    target = base._target(settings)
    if target.service_url is not None:
        changes = base._api(settings, target.service_url, "POST", "/v1/retention/apply", body={"dry_run": dry_run})
        rows = changes["changes"]
    else:
        rows = [asdict(c) for c in retention.apply(base._direct_store(settings, target), settings, dry_run=dry_run)]
    for c in rows:
        base.out.print(f"{c['table']} {c['platform']}: {c['before']} → {c['after']} days, {c['rows']} rows")
    if not rows:
        base.out.print("the tables' retention already follows the register")


@retention_app.command("hold")
def retention_hold(
    platform: Annotated[str, typer.Argument()],
    account_id: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why the data must be kept (a claim, an investigation).")] = "",
    lift: Annotated[bool, typer.Option("--lift")] = False,
) -> None:
    """Place (or --lift) a legal hold on an account: neither the job nor a TTL removes its rows."""
    from ccaudit.rights import holds

    settings, store = _store_only()
    now = datetime.now(UTC)
    if lift:
        base.out.print("lifted" if holds.lift(store, platform, account_id, CLI_ACTOR, now) else "no hold to lift")
        return
    if not reason:
        base._fail("a hold needs its --reason", 2)
    rows = holds.place(store, settings.processing_register, platform, account_id, reason, CLI_ACTOR, now)
    base.out.print(f"held {platform}/{account_id}; {rows} rows kept past their TTL")


@retention_app.command("holds")
def retention_holds() -> None:
    """Legal holds in force."""
    from ccaudit.rights import holds

    _, store = _store_only()
    table = Table("platform", "account", "reason", "by", "since")
    for h in holds.active_holds(store):
        table.add_row(h["platform"], h["account_id"], h["reason"], h["placed_by"], h["placed_at"])
    base.out.print(table)


def _call(action: str, body: dict[str, Any]) -> dict[str, Any]:
    settings = base._settings()
    target = base._target(settings)
    if target.service_url is not None:
        return base._api(settings, target.service_url, "POST", f"/v1/subjects/{action}", body=body)
    from ccaudit.rights.actions import Actor, Rights, StepBody, SubjectBody
    from ccaudit.rights.erase import HeldError
    from ccaudit.rights.requests import RequestError

    rights = Rights(base._direct_store(settings, target), settings)
    actor = Actor(CLI_ACTOR, "dpo")
    try:
        if action == "requests":
            return rights.step(StepBody(**body), actor)
        method = {"export": rights.export, "erase": rights.erase, "restrict": rights.restrict,
                  "object": rights.object_, "rectify": rights.rectify}[action]  # fmt: skip
        return method(SubjectBody(**body), actor)
    except (HeldError, RequestError, ValueError) as exc:
        base._fail(str(exc), 2)


Account = Annotated[str, typer.Argument(help="The account id on the platforms.")]
Identifier = Annotated[list[str] | None, typer.Option("--identifier", help="Another identifier (e-mail, profile id).")]
Platform = Annotated[str | None, typer.Option(help="Only this platform.")]
RequestId = Annotated[str, typer.Option("--request", help="The request this answers.")]


def _body(
    account: str, identifier: list[str] | None, platform: str | None, request: str, **more: Any
) -> dict[str, Any]:
    return {"account_id": account, "identifiers": identifier or [], "platform": platform, "request_id": request, **more}


@subject_app.command("export")
def subject_export(
    account: Account, out: Annotated[Path, typer.Option(help="Folder for export.json and a CSV per table.")],
    identifier: Identifier = None, platform: Platform = None, request: RequestId = "",
) -> None:  # fmt: skip
    """Every row about the subject, as JSON with a manifest and a CSV per table."""
    from ccaudit.rights.export import write_export

    document = _call("export", _body(account, identifier, platform, request))
    files = write_export(document, out)
    for part in document["manifest"]:
        base.out.print(f"{part['table']}: {part['rows']} rows")
    base.out.print(f"wrote {len(files)} files to {out}")


@subject_app.command("erase")
def subject_erase(
    account: Account, identifier: Identifier = None, platform: Platform = None, request: RequestId = "",
    purpose: Annotated[str | None, typer.Option(help="Only this purpose (P1..P5); default: entirely.")] = None,
) -> None:  # fmt: skip
    """Erase the subject: rows deleted or, where kept as evidence, pseudonymised."""
    base.out.print_json(json.dumps(_call("erase", _body(account, identifier, platform, request, purpose=purpose))))


@subject_app.command("restrict")
def subject_restrict(
    account: Account, identifier: Identifier = None, platform: Platform = None, request: RequestId = "",
    lift: Annotated[bool, typer.Option("--lift")] = False,
) -> None:  # fmt: skip
    """Keep the subject's data but leave it out of every read (or --lift the restriction)."""
    base.out.print_json(json.dumps(_call("restrict", _body(account, identifier, platform, request, lift=lift))))


@subject_app.command("object")
def subject_object(
    account: Account, purpose: Annotated[str, typer.Option(help="The purpose objected to (P1..P5).")],
    identifier: Identifier = None, platform: Platform = None, request: RequestId = "",
    refuse: Annotated[str, typer.Option(help="Refuse, stating the compelling grounds.")] = "",
) -> None:  # fmt: skip
    """Record an objection (art. 21): accepted (that processing stops) or refused with the grounds."""
    body = _body(account, identifier, platform, request, purpose=purpose, accept=not refuse, grounds=refuse)
    base.out.print_json(json.dumps(_call("object", body)))


@subject_app.command("rectify")
def subject_rectify(
    account: Account, table: Annotated[str, typer.Option()], column: Annotated[str, typer.Option()],
    value: Annotated[str, typer.Option()], platform: Platform = None, request: RequestId = "",
) -> None:  # fmt: skip
    """Correct a profile field in a state table (those that declare it rectifiable)."""
    body = _body(account, None, platform, request, table=table, column=column, value=value)
    base.out.print_json(json.dumps(_call("rectify", body)))


@subject_app.command("requests")
def subject_requests(
    step: Annotated[str | None, typer.Argument(help="receive, verify, extend, done or refuse; none: list.")] = None,
    request: Annotated[str, typer.Option("--request")] = "",
    kind: Annotated[str, typer.Option(help="For receive: export, erase, restrict, object, rectify.")] = "",
    account: Annotated[str, typer.Option()] = "",
    platform: Annotated[str, typer.Option()] = "",
    how: Annotated[str, typer.Option(help="For verify: how the identity was checked (never a document copy).")] = "",
    months: Annotated[int, typer.Option()] = 1,
    reason: Annotated[str, typer.Option()] = "",
    answer: Annotated[str, typer.Option()] = "",
) -> None:
    """The requests, overdue ones first and in red; or one step of one."""
    if step is not None:
        body = {"step": step, "request_id": request, "kind": kind, "account_id": account, "platform": platform,
                "how": how, "months": months, "reason": reason, "answer": answer}  # fmt: skip
        base.out.print_json(json.dumps(_call("requests", body)))
        return
    settings = base._settings()
    target = base._target(settings)
    if target.service_url is not None:
        rows = base._api(settings, target.service_url, "GET", "/v1/subjects/requests")["requests"]
    else:
        from ccaudit.rights.actions import Rights

        rows = Rights(base._direct_store(settings, target), settings).requests()
    table = Table("request", "kind", "account", "received", "due", "status", "verified by")
    for column in table.columns:
        column.overflow = "fold"  # an id cut short could not be given back to a command
    for row in sorted(rows, key=lambda r: (not r["overdue"], r["due_at"])):
        style = "bold red" if row["overdue"] else None
        status = row["status"] + (" OVERDUE" if row["overdue"] else "")
        table.add_row(row["request_id"], row["kind"], row["account_id"], row["received_at"], row["due_at"], status,
                      row["verified_by"], style=style)  # fmt: skip
    base.out.print(table)


@subject_app.command("erase-spool")
def subject_erase_spool(
    identifier: Annotated[list[str], typer.Argument(help="The subject's identifiers (account id, subject ids, …).")],
) -> None:
    """On a platform host: rewrite the spool's waiting events that name the subject."""
    from ccaudit.rights import spool

    settings = base._settings()
    base.out.print_json(json.dumps(spool.erase(settings.spool_file, identifier)))
