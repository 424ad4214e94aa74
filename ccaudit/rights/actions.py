"""The rights as operations: what the API routes, the console and the command line call.

Each takes a checked body and the acting person, does the work through the modules beside it, and
records the step as an audit event (``trail.py``) naming the request, never the subject's data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ccaudit.register import ProcessingRegister
from ccaudit.rights import trail
from ccaudit.rights.catalog import Described, describe, matches
from ccaudit.rights.erase import erase
from ccaudit.rights.export import export
from ccaudit.rights.late import LateArrivals
from ccaudit.rights.rectify import is_state, rectify_state
from ccaudit.rights.requests import RequestError, Requests
from ccaudit.rights.restrict import set_restriction
from ccaudit.rights.subjects import Subject, find_subject
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.client import command, query_rows

_Id = Annotated[str, Field(max_length=256)]
log = logging.getLogger(__name__)


class SubjectBody(BaseModel):
    """Who the request is about, and the request it answers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account_id: _Id = ""
    identifiers: tuple[_Id, ...] = ()
    platform: _Id | None = None
    request_id: _Id = ""
    purpose: Literal["P1", "P2", "P3", "P4", "P5"] | None = None
    lift: bool = False
    # Objection: accepted, or refused with the compelling grounds stated.
    accept: bool = True
    grounds: Annotated[str, Field(max_length=2000)] = ""
    # Rectification: which table's column, and its corrected value.
    table: _Id = ""
    column: _Id = ""
    value: Annotated[str, Field(max_length=2048)] = ""


class StepBody(BaseModel):
    """One step of a request: receive, verify, extend, done or refuse."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: Literal["receive", "verify", "extend", "done", "refuse"]
    request_id: _Id = ""
    kind: _Id = ""
    account_id: _Id = ""
    platform: _Id = ""
    # receive: when the request came in (a letter opened today may be days old); default now.
    received_at: datetime | None = None
    # verify: who checked the identity (default the one recording the step), and how.
    by: _Id = ""
    how: Annotated[str, Field(max_length=500)] = ""
    months: int = 1
    reason: Annotated[str, Field(max_length=2000)] = ""
    answer: Annotated[str, Field(max_length=2000)] = ""


@dataclass(frozen=True, slots=True)
class Actor:
    account_id: str
    role: str


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Rights:
    store: Store
    settings: Settings
    late: LateArrivals | None = None
    clock: Callable[[], datetime] = _utcnow
    # Stores what the service kept in its own spools and has not stored yet (its eligibility grants
    # and waivers name learners): an export then holds them, an erasure reaches them. True when done.
    settle: Callable[[], bool] | None = None

    @property
    def register(self) -> ProcessingRegister:
        return self.settings.processing_register

    def subject(self, body: SubjectBody) -> Subject:
        return find_subject(self.store, self.register, [body.account_id], body.identifiers, body.platform)

    def _record(self, action: str, actor: Actor, body: SubjectBody, details: dict[str, object], **kw: Any) -> None:
        subject = f"request:{body.request_id}" if body.request_id else "request:none"
        trail.record(self.store, self.settings, action, actor=actor.account_id, role=actor.role, subject=subject,
                     now=self.clock(), details={"request_id": body.request_id, **details}, **kw)  # fmt: skip

    def _verified(self, body: SubjectBody) -> None:
        """Raises RequestError when ``body`` answers a request tracked here whose requester's identity
        is not verified yet: nothing is done with the data before that (art. 12(6); handing an export
        to someone who only claims to be the subject would itself be a breach). The console, the API
        and the command line all come through here. A request id not tracked here is a case
        reference kept elsewhere, and is only recorded."""
        if not body.request_id:
            return
        try:
            request = Requests(self.store).get(body.request_id)
        except RequestError:
            return
        if request.status == "received":
            raise RequestError(f"request {body.request_id}: the requester's identity is not verified yet; "
                               "record the check first (step verify)")  # fmt: skip

    def _settled(self) -> None:
        if self.settle is not None and not self.settle():
            # An erasure still reaches them: ingest screens late arrivals of erased subjects.
            log.warning("ccaudit: the service's own events were not all stored before a subject request")

    def export(self, body: SubjectBody, actor: Actor) -> dict[str, Any]:
        self._verified(body)
        self._settled()
        document = export(self.store, self.register, self.subject(body), self.clock())
        counts = {f"rows.{m['table']}": m["rows"] for m in document["manifest"] if m["rows"]}
        self._record("subject.export", actor, body, counts)
        return document

    def erase(self, body: SubjectBody, actor: Actor) -> dict[str, Any]:
        self._verified(body)
        self._settled()
        done = erase(self.store, self.register, self.subject(body), now=self.clock(), purpose=body.purpose)
        if self.late is not None:
            self.late.invalidate()
        details: dict[str, object] = {"purpose": body.purpose or "all", "rows": done.rows}
        details.update({f"{a}.{t}": n for t, (a, n) in done.tables.items()})
        self._record("subject.erase", actor, body, details)
        return done.as_dict()

    def restrict(self, body: SubjectBody, actor: Actor) -> dict[str, Any]:
        self._verified(body)
        n = set_restriction(self.store, self.subject(body), request_id=body.request_id, active=not body.lift,
                            now=self.clock())  # fmt: skip
        self._record("subject.restrict.lift" if body.lift else "subject.restrict", actor, body, {"identifiers": n})
        return {"restricted": not body.lift, "identifiers": n}

    def object_(self, body: SubjectBody, actor: Actor) -> dict[str, Any]:
        self._verified(body)
        if body.purpose is None:
            raise ValueError("an objection names the purpose it objects to (P1..P5)")
        if not body.accept and not body.grounds.strip():
            raise ValueError("refusing an objection needs the compelling grounds (GDPR art. 21(1))")
        n = 0
        if body.accept:
            n = set_restriction(self.store, self.subject(body), purpose=body.purpose, request_id=body.request_id,
                                active=not body.lift, now=self.clock())  # fmt: skip
        details: dict[str, object] = {"purpose": body.purpose, "accepted": body.accept, "grounds": body.grounds}
        self._record("subject.object", actor, body, details, outcome="success" if body.accept else "denied")
        return {"purpose": body.purpose, "accepted": body.accept, "grounds": body.grounds, "identifiers": n}

    def rectify(self, body: SubjectBody, actor: Actor) -> dict[str, Any]:
        self._verified(body)
        tables = {t.name: t for t in describe(self.store.client, self.store.database)}
        table = tables.get(body.table)
        if table is None or body.column not in table.info.rectifiable_columns:
            allowed = sorted(f"{t.name}.{c}" for t in tables.values() for c in t.info.rectifiable_columns)
            raise ValueError(f"rectifiable: {', '.join(allowed) or 'none declared'}")
        subject = self.subject(body)
        params = {"ids": list(subject.identifiers), "value": body.value}
        # The same field kept in another table of the stream (a learner's profession is kept per
        # lesson and per learner) is corrected with it, so no read still finds the old value.
        also = [t for t in tables.values() if t is not table and t.info.stream == table.info.stream
                and body.column in t.info.rectifiable_columns]  # fmt: skip
        counts = {t.name: self._rectify(t, body.column, params) for t in (table, *also)}
        # The corrected value is personal data too: the trail says which field, not what it now holds.
        details: dict[str, object] = {"table": table.name, "column": body.column, "rows": counts[table.name]}
        if also:
            details["also"] = ",".join(f"{t.name}:{counts[t.name]}" for t in also)
        self._record("subject.rectify", actor, body, details)
        return {"table": table.name, "column": body.column, "rows": counts[table.name],
                "also": {t.name: counts[t.name] for t in also}}  # fmt: skip

    def _rectify(self, table: Described, column: str, params: dict[str, Any]) -> int:
        """Correct ``column`` of the subject's rows of ``table``; how many rows they are."""
        where = matches(table, "{ids:Array(String)}", personal=self.register.personal_details())
        n = int(query_rows(self.store.client, f"SELECT count() FROM {self.store.database}.{table.name} WHERE {where}",
                           params)[0][0])  # fmt: skip
        if is_state(table, column):
            rectify_state(self.store, table, column, where, params, self.clock())
        else:
            command(self.store.client, f"ALTER TABLE {self.store.database}.{table.name} UPDATE {column} = "
                    f"{{value:String}} WHERE {where} SETTINGS mutations_sync = 2", params)  # fmt: skip
        return n

    def step(self, body: StepBody, actor: Actor) -> dict[str, Any]:
        requests, now = Requests(self.store), self.clock()
        if body.step == "receive":
            received = (
                now
                if body.received_at is None
                else (
                    body.received_at.astimezone(UTC)
                    if body.received_at.tzinfo
                    else body.received_at.replace(tzinfo=UTC)
                )
            )
            if received > now:
                raise RequestError("a request cannot be received in the future")
            request = requests.receive(body.kind, body.account_id, body.platform, received)
        elif body.step == "verify":
            request = requests.verify(body.request_id, body.by.strip() or actor.account_id, body.how, now)
        elif body.step == "extend":
            request = requests.extend(body.request_id, body.months, body.reason, now)
        else:
            request = requests.finish(body.request_id, body.answer, now, refused=body.step == "refuse")
        trail.record(self.store, self.settings, f"subject.request.{body.step}", actor=actor.account_id,
                     role=actor.role, subject=f"request:{request.request_id}", now=now,
                     details={"request_id": request.request_id, "kind": request.kind, "status": request.status,
                              "due_at": request.due_at.isoformat(), "how": body.how,
                              "reason": body.reason})  # fmt: skip
        return request.as_dict(now)

    def requests(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [r.as_dict(now) for r in Requests(self.store).list()]
