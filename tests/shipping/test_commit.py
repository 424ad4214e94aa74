"""Group commit of the request path's writes: callers that arrive while a write runs share the next one."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ccaudit.shipping.commit import GroupCommit
from tests.conftest import wait_until


class Writes:
    """A write function that records each write and can be held until released."""

    def __init__(self) -> None:
        self.writes: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.fail = False

    def __call__(self, items: Sequence[str]) -> None:
        self.entered.set()
        self.release.wait(10)
        if self.fail:
            raise OSError("disk full")
        self.writes.append(list(items))


def test_without_contention_each_commit_is_one_write_on_the_callers_thread() -> None:
    writes = Writes()
    group = GroupCommit(writes)
    assert group.commit(["a"])
    assert group.commit(["b", "c"])
    assert writes.writes == [["a"], ["b", "c"]]
    assert group.commits == 2


def _commit_in_thread(group: GroupCommit, items: list[str], results: list[bool]) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.append(group.commit(items)))
    thread.start()
    return thread


def test_callers_that_arrive_during_a_write_share_the_next_one() -> None:
    writes = Writes()
    writes.release.clear()
    group = GroupCommit(writes)
    results: list[bool] = []
    first = _commit_in_thread(group, ["first"], results)
    assert writes.entered.wait(10)  # the first write is under way, held
    others = [_commit_in_thread(group, [f"r{n}"], results) for n in range(5)]
    wait_until(lambda: len(group._waiting) == 5, timeout=10)
    writes.release.set()
    for thread in [first, *others]:
        thread.join(10)
    assert results == [True] * 6
    assert writes.writes[0] == ["first"]
    assert sorted(writes.writes[1]) == [f"r{n}" for n in range(5)]  # one write for the five
    assert group.commits == 2


def test_every_caller_of_a_failed_write_is_told_and_the_error_reported_once() -> None:
    writes = Writes()
    writes.release.clear()
    errors: list[Exception] = []
    group = GroupCommit(writes, errors.append)
    results: list[bool] = []
    first = _commit_in_thread(group, ["first"], results)
    assert writes.entered.wait(10)
    others = [_commit_in_thread(group, [f"r{n}"], results) for n in range(3)]
    wait_until(lambda: len(group._waiting) == 3, timeout=10)
    writes.fail = True
    writes.release.set()
    for thread in [first, *others]:
        thread.join(10)
    assert results == [False] * 4  # the first write failed, and so did the one the other three shared
    assert [str(e) for e in errors] == ["disk full"] * 2
    assert group.commits == 2
    writes.fail = False
    assert group.commit(["later"])  # and the next caller writes again
