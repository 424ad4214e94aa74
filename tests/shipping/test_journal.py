"""The request path's journals: written by one process each, folded into the shared spool exactly once,
deleted once folded and abandoned; a line cut short by a crash is dropped, a line being written waits."""

from __future__ import annotations

import errno
import json
import os
import signal
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


def write_at_end(path: Path, data: bytes) -> None:
    """Bytes copied in at the journal's end (its first NUL), as its writer copies a line."""
    content = path.read_bytes()
    end = content.find(b"\0")
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, len(content) if end < 0 else end)
    finally:
        os.close(fd)


def test_a_line_cut_short_by_a_crash_is_dropped_and_a_line_being_written_waits(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    spool.append(items("a"))
    [path] = journal.files(spool.journals)
    whole = journal.line(items("b"), 0.0)
    write_at_end(path, whole[:10])  # half a line, as a writer in the middle of its copy leaves it
    assert spool.fold() == 1  # the complete line only; its writer still holds the file
    assert len(journal.files(spool.journals)) == 1
    write_at_end(path, whole[10:])
    assert spool.fold() == 1  # now complete
    write_at_end(path, journal.line(items("c"), 0.0)[:7])
    spool.close()  # the writer dies with its last line cut short: that request was never answered
    other = Spool(tmp_path / "s.sqlite3")
    assert other.fold() == 0
    assert journal.files(other.journals) == []
    assert claimed_ids(other) == ["a", "b"]


def test_a_journal_that_a_line_does_not_fit_is_replaced_and_the_old_one_folded_and_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "SIZE", 200)
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


def test_a_line_whose_newline_shows_before_its_bytes_waits_for_them(tmp_path: Path) -> None:
    """A reader may see a line's last bytes before its first ones (CPUs that order stores loosely):
    the bytes not there yet are still the file's NULs, where the journal ends for that read."""
    spool = Spool(tmp_path / "s.sqlite3")
    spool.append(items("a"))
    [path] = journal.files(spool.journals)
    whole = journal.line(items("b"), 0.0)
    end = path.read_bytes().find(b"\0")
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, whole[5:], end + 5)  # the newline is there, the first five bytes are not
        assert spool.fold() == 1
        os.pwrite(fd, whole[:5], end)
    finally:
        os.close(fd)
    assert spool.fold() == 1
    assert claimed_ids(spool) == ["a", "b"]
    spool.close()


def test_a_line_copied_in_survives_its_process_being_killed(tmp_path: Path) -> None:
    """A copied line is in the page cache, not in the process: SIGKILL right after the copy does not
    lose it (the kill scenarios of ``make faults`` show it under traffic)."""
    spool = Spool(tmp_path / "s.sqlite3")
    pid = os.fork()
    if pid == 0:
        spool.append(items("child"))
        os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGKILL
    assert spool.fold() == 1
    assert journal.files(spool.journals) == []  # its writer is gone: folded and deleted
    assert claimed_ids(spool) == ["child"]


def test_a_journal_that_cannot_be_made_refuses_the_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk shows when a journal file is made (its blocks are allocated then), as an OSError
    the recorder turns into "not kept" (the request then falls back or answers 503). A full disk
    cannot be made here: the allocation is made to fail."""

    def no_space(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    folder = tmp_path / "journal"
    writer = journal.Journal(folder)
    monkeypatch.setattr(journal.os, "posix_fallocate", no_space)
    with pytest.raises(OSError, match="No space left"):
        writer.append(journal.line(items("a"), 0.0))
    assert list(folder.iterdir()) == []
    monkeypatch.undo()
    writer.append(journal.line(items("a"), 0.0))  # room again: the next line gets a file
    [path] = journal.files(folder)
    assert [line.body for line in journal.read(path, 0)[0]] == [f"[{items('a')[0]}]"]
    writer.close()
