"""Data-subject requests (GDPR art. 12): received, identity verified, answered within the month.

Each request is a row version per step in ``subject_requests``: received (the due date is one month
after receipt), verified (by whom and how: never a copy of the identity document), extended (with
a reason, by at most two more months in all), done or refused (with the answer). ``overdue`` is
computed at read time against the clock passed in.
"""

from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ccaudit.store import Store
from ccaudit.store.client import insert_rows, jsonable, query_rows

KINDS = frozenset({"export", "erase", "restrict", "object", "rectify"})
_COLUMNS = (
    "request_id", "kind", "platform", "account_id", "received_at", "due_at", "status", "verified_by",
    "verified_how", "extension", "answer", "updated_at", "version",
)  # fmt: skip


class RequestError(ValueError):
    """A step that does not fit the request (unknown, already done, an extension too long)."""


def add_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` later, or the month's last day when it has fewer days."""
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class SubjectRequest:
    request_id: str
    kind: str
    platform: str
    account_id: str
    received_at: datetime
    due_at: datetime
    status: str = "received"
    verified_by: str = ""
    verified_how: str = ""
    extension: str = ""
    answer: str = ""

    def overdue(self, now: datetime) -> bool:
        return self.status not in ("done", "refused") and now > self.due_at

    def as_dict(self, now: datetime) -> dict[str, Any]:
        data = {k: jsonable(getattr(self, k)) for k in _COLUMNS[:-2]}
        data["overdue"] = self.overdue(now)
        return data


class Requests:
    def __init__(self, store: Store) -> None:
        self._store = store

    def _write(self, request: SubjectRequest, now: datetime) -> SubjectRequest:
        row = [getattr(request, k) for k in _COLUMNS[:-2]] + [now, int(now.timestamp() * 1_000_000)]
        insert_rows(self._store.client, self._store.database, "subject_requests", [row], _COLUMNS)
        return request

    def receive(self, kind: str, account_id: str, platform: str, now: datetime) -> SubjectRequest:
        if kind not in KINDS:
            raise RequestError(f"kind must be one of {', '.join(sorted(KINDS))}")
        request = SubjectRequest(uuid.uuid4().hex[:12], kind, platform, account_id, now, add_months(now, 1))
        return self._write(request, now)

    def get(self, request_id: str) -> SubjectRequest:
        rows = query_rows(
            self._store.client,
            f"SELECT {', '.join(_COLUMNS[:-2])} FROM {self._store.database}.subject_requests FINAL "
            "WHERE request_id = {id:String}",
            {"id": request_id},
        )
        if not rows:
            raise RequestError(f"no request {request_id}")
        return _request(rows[0])

    def list(self) -> list[SubjectRequest]:
        rows = query_rows(
            self._store.client,
            f"SELECT {', '.join(_COLUMNS[:-2])} FROM {self._store.database}.subject_requests FINAL ORDER BY due_at",
        )
        return [_request(r) for r in rows]

    def verify(self, request_id: str, by: str, how: str, now: datetime) -> SubjectRequest:
        if not how.strip() or not by.strip():
            raise RequestError("say who verified the identity and how (never a copy of the document)")
        return self._write(replace(self._open(request_id), status="verified", verified_by=by, verified_how=how), now)

    def extend(self, request_id: str, months: int, reason: str, now: datetime) -> SubjectRequest:
        request = self._open(request_id)
        if not reason.strip():
            raise RequestError("an extension needs its reason")
        due = add_months(request.due_at, months)
        if months < 1 or due > add_months(request.received_at, 3):
            raise RequestError("an extension is at most two more months in all (GDPR art. 12(3))")
        return self._write(replace(request, due_at=due, extension=reason), now)

    def finish(self, request_id: str, answer: str, now: datetime, *, refused: bool = False) -> SubjectRequest:
        request = self._open(request_id)
        if request.status != "verified":
            raise RequestError("the requester's identity is not verified yet")
        return self._write(replace(request, status="refused" if refused else "done", answer=answer), now)

    def _open(self, request_id: str) -> SubjectRequest:
        request = self.get(request_id)
        if request.status in ("done", "refused"):
            raise RequestError(f"request {request_id} is {request.status}")
        return request


def _request(row: Any) -> SubjectRequest:
    # The driver hands times back naive, in UTC.
    values: list[Any] = [v.replace(tzinfo=UTC) if isinstance(v, datetime) else str(v) for v in row]
    return SubjectRequest(*values)
