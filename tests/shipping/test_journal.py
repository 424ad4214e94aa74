"""The request path's journals: written by one process each, folded into the shared spool exactly once,
deleted once folded and abandoned; a line cut short by a crash is dropped, a line being written waits."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ccaudit.shipping import journal
from ccaudit.shipping.spool import Spool
from tests.faults.harness import spooled_request_ids


def items(*names: str) -> list[str]:
    return [json.dumps({"event_id": name, "request_id": name}) for name in names]


def claimed_ids(spool: Spool) -> list[str]:
    return [json.loads(e)["request_id"] for b in spool.claim(100_000, 60) for _, e in _split(b.body)]


def _split(body: str) -> list[tuple[str, str]]:
    return [(e["event_id"], json.dumps(e)) for e in json.loads(body)]


def test_lines_are_folded_once_and_a_journal_is_kept_while_its_process_writes(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    spool.append(items("a", "b"))
    spool.append(items("c"))
    assert spool.status().depth == 3  # not folded yet, and counted
    assert spool.fold() == 3
    assert spool.fold() == 0  # the spool notes how far it folded, in the fold's transaction
    spool.append(items("d"))
    assert claimed_ids(spool) == ["a", "b", "c", "d"]  # a claim folds first
    assert len(journal.files(spool.journals)) == 1  # still written to: kept
    spool.close()


def test_an_abandoned_journal_is_folded_by_another_handle_and_deleted(tmp_path: Path) -> None:
    writer = Spool(tmp_path / "s.sqlite3")
    writer.append(items("a"))
    reader = Spool(tmp_path / "s.sqlite3")  # another process's handle, as far as locks go
    assert reader.fold() == 1
    assert len(journal.files(reader.journals)) == 1  # its writer holds it
    writer.append(items("b"))
    writer.close()  # the writer is gone (as at a process's exit or death)
    assert reader.fold() == 1
    assert journal.files(reader.journals) == []  # folded to its end and abandoned: deleted
    assert reader.fold() == 0
    assert claimed_ids(reader) == ["a", "b"]


def test_a_line_cut_short_by_a_crash_is_dropped_and_a_line_being_written_waits(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    spool.append(items("a"))
    [path] = journal.files(spool.journals)
    whole = journal.line(items("b"), 0.0)
    with open(path, "ab") as handle:  # half a line, as a writer in the middle of its write() leaves it
        handle.write(whole[:10])
    assert spool.fold() == 1  # the complete line only; its writer still holds the file
    assert len(journal.files(spool.journals)) == 1
    with open(path, "ab") as handle:
        handle.write(whole[10:])
    assert spool.fold() == 1  # now complete
    with open(path, "ab") as handle:
        handle.write(journal.line(items("c"), 0.0)[:7])
    spool.close()  # the writer dies with its last line cut short: that request was never answered
    other = Spool(tmp_path / "s.sqlite3")
    assert other.fold() == 0
    assert journal.files(other.journals) == []
    assert claimed_ids(other) == ["a", "b"]


def test_a_journal_past_its_size_is_replaced_and_the_old_one_folded_and_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "ROTATE_BYTES", 200)
    spool = Spool(tmp_path / "s.sqlite3")
    for n in range(10):
        spool.append(items(f"e{n}"))  # ~60 bytes a line
    assert len(journal.files(spool.journals)) > 1
    assert spool.fold() == 10
    assert len(journal.files(spool.journals)) == 1  # only the one still written to
    assert claimed_ids(spool) == [f"e{n}" for n in range(10)]


def test_a_forked_child_writes_a_journal_of_its_own(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    spool.append(items("parent-1"))
    pid = os.fork()
    if pid == 0:  # the child: its lines in a file of its own; it folds nothing
        try:
            spool.append(items("child"))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    spool.append(items("parent-2"))
    assert len(journal.files(spool.journals)) == 2
    assert spooled_request_ids(spool.path) == {"parent-1", "parent-2", "child"}  # read without the spool
    assert spool.fold() == 3
    assert len(journal.files(spool.journals)) == 1  # the child's is abandoned (it exited): deleted
    assert sorted(claimed_ids(spool)) == ["child", "parent-1", "parent-2"]


def test_a_journal_is_never_seen_unowned_before_its_first_line(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    writer = journal.Journal(folder)
    writer.append(journal.line(items("a"), 0.0))
    [path] = journal.files(folder)
    assert journal.owned(path)  # made under another name, locked, then renamed
    assert not any(p.name.endswith(".tmp") for p in folder.iterdir())
    writer.close()
    assert not journal.owned(path)
