"""Group commit: batches that arrive while an insert runs are stored together, in one insert per table.

Many platform processes on many hosts each ship their own batches. One insert per batch would give
ClickHouse many small inserts, each with a fixed cost and a new part to merge (and, past a limit,
"too many parts"). Here the first caller inserts its own rows at once; callers that arrive while
it runs wait, and the next of them inserts everything that waited, as one insert per table. Every
caller returns only when its rows are stored, or raises the error of the insert that carried them:
a batch is still acknowledged only after its insert succeeded.

Merging is safe for exactly-once storage: the tables deduplicate by event id, whatever the grouping
(see the README, "Idempotency").
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Columns = Sequence[Sequence[Any]]
Insert = Callable[[Columns], None]


class _Job:
    __slots__ = ("done", "error", "tables")

    def __init__(self, tables: Mapping[str, Columns]) -> None:
        self.tables = tables
        self.done = False
        self.error: BaseException | None = None


class GroupCommit:
    """Inserts column-oriented data through ``inserts`` (table name → insert function, run in that
    order), merging the data of concurrent callers. ``max_rows`` bounds one merged insert."""

    def __init__(self, inserts: Mapping[str, Insert], max_rows: int = 200_000) -> None:
        self._inserts = dict(inserts)
        self._max_rows = max_rows
        self._changed = threading.Condition()
        self._waiting: list[_Job] = []
        self._inserting = False
        self.inserts = 0  # inserts run (one per table with rows); tests check it never exceeds the callers

    def insert(self, tables: Mapping[str, Columns]) -> None:
        """Store ``tables`` (table name → columns); returns when stored, or raises the insert's error."""
        job = _Job({name: columns for name, columns in tables.items() if columns and columns[0]})
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
            for name, insert in self._inserts.items():
                parts = [job.tables[name] for job in jobs if name in job.tables]
                if parts:
                    insert(parts[0] if len(parts) == 1 else _concat(parts))
                    self.inserts += 1
        except BaseException as exc:  # handed to every caller whose rows it carried
            error = exc
        for job in jobs:
            job.error = error
            job.done = True


def _concat(parts: Sequence[Columns]) -> list[list[Any]]:
    return [list(itertools.chain.from_iterable(part[i] for part in parts)) for i in range(len(parts[0]))]
