"""Group commit: batches that arrive while an insert runs are stored together, in one insert per table.

Many platform processes on many hosts each ship their own batches. One insert per batch would give
ClickHouse many small inserts, each with a fixed cost and a new part to merge (and, past a limit,
"too many parts"). Here the first caller inserts its own rows at once; callers that arrive while
it runs wait, and the next of them inserts everything that waited, as one insert per table. Every
caller returns only when its rows are stored, or raises the error of the insert that carried them:
a batch is still acknowledged only after its insert succeeded.

The leader also applies the append-only rule (``ledger.py``) to everything it is about to insert,
in arrival order: events already stored, or already in this group, are not inserted again, and a
batch that would rewrite a stored event is refused whole. Since one leader runs at a time, two
batches carrying the same new event cannot both insert it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ccaudit.errors import RewriteRefused
from ccaudit.ingest.ledger import Key, Sorted

Columns = Sequence[Sequence[Any]]
Insert = Callable[[Columns], None]
Sort = Callable[[Sequence[tuple[str, Sequence[Key]]]], list[Sorted]]


@dataclass(frozen=True, slots=True)
class Batch:
    """One caller's rows: per table its columns, and per table the batch index of each row."""

    platform: str
    tables: Mapping[str, Columns]
    indexes: Mapping[str, Sequence[int]] = field(default_factory=dict)
    keys: Sequence[Key] = ()


class _Job:
    __slots__ = ("batch", "done", "error", "tables")

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.tables = {name: columns for name, columns in batch.tables.items() if columns and columns[0]}
        self.done = False
        self.error: BaseException | None = None


class GroupCommit:
    """Inserts column-oriented data through ``inserts`` (table name → insert function, run in that
    order), merging the data of concurrent callers. ``max_rows`` bounds one merged insert."""

    def __init__(self, inserts: Mapping[str, Insert], sort: Sort | None = None, max_rows: int = 200_000) -> None:
        self._inserts = dict(inserts)
        self._sort = sort
        self._max_rows = max_rows
        self._changed = threading.Condition()
        self._waiting: list[_Job] = []
        self._inserting = False
        self.inserts = 0  # inserts run (one per table with rows); tests check it never exceeds the callers

    def insert(self, batch: Batch) -> None:
        """Store ``batch``; returns when stored (or found stored), or raises: the insert's error, or
        RewriteRefused for a batch that would rewrite stored events."""
        job = _Job(batch)
        if not job.tables:
            return
        with self._changed:
            self._waiting.append(job)
        while True:
            with self._changed:
                while not job.done and self._inserting:
                    self._changed.wait()
                if job.done:
                    break
                # No insert is running and ours is still waiting: lead the next one.
                self._inserting = True
                jobs = self._take()
            try:
                self._run(jobs)
            finally:
                with self._changed:
                    self._inserting = False
                    self._changed.notify_all()
        if job.error is not None:
            raise job.error

    def _take(self) -> list[_Job]:
        # Oldest first, up to max_rows (at least one job): a flood cannot build an unbounded insert.
        taken: list[_Job] = []
        rows = 0
        while self._waiting:
            size = sum(len(columns[0]) for columns in self._waiting[0].tables.values())
            if taken and rows + size > self._max_rows:
                break
            taken.append(self._waiting.pop(0))
            rows += size
        return taken

    def _run(self, jobs: Sequence[_Job]) -> None:
        error: BaseException | None = None
        try:
            if self._sort is not None:
                jobs = self._apply(jobs, self._sort([(job.batch.platform, job.batch.keys) for job in jobs]))
            for name, insert in self._inserts.items():
                parts = [job.tables[name] for job in jobs if name in job.tables and job.tables[name][0]]
                if parts:
                    insert(parts[0] if len(parts) == 1 else _concat(parts))
                    self.inserts += 1
        except BaseException as exc:  # handed to every caller whose rows it carried
            error = exc
        for job in jobs:
            job.error = job.error or error
            job.done = True

    @staticmethod
    def _apply(jobs: Sequence[_Job], verdicts: Sequence[Sorted]) -> list[_Job]:
        """Keep the new rows of each job; a job with conflicts is refused and inserts nothing."""
        kept: list[_Job] = []
        for job, verdict in zip(jobs, verdicts, strict=True):
            if verdict.conflicts:
                job.error = RewriteRefused([(c.key.index, _REFUSED) for c in verdict.conflicts], verdict.conflicts)
                job.done = True
                continue
            job.tables = {
                name: _rows(columns, job.batch.indexes[name], verdict.new) for name, columns in job.tables.items()
            }
            kept.append(job)
        return kept


def _concat(parts: Sequence[Columns]) -> list[list[Any]]:
    return [list(itertools.chain.from_iterable(part[i] for part in parts)) for i in range(len(parts[0]))]


_REFUSED = "event_id: already stored with other content; a stored event is never rewritten"


def _rows(columns: Columns, indexes: Sequence[int], new: frozenset[int]) -> Columns:
    """The rows of ``columns`` whose batch index is in ``new`` (all of them, most of the time)."""
    positions = [p for p, index in enumerate(indexes) if index in new]
    if len(positions) == len(indexes):
        return columns
    return [[column[p] for p in positions] for column in columns]
