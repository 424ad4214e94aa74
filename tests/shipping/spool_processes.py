"""Writers and claimers in several forked processes sharing one spool file, run as its own program
(``python -m tests.shipping.spool_processes FOLDER``) by ``tests/shipping/test_spool.py``.

Its own interpreter, because forking the test process is unsafe: by then it runs the embedded
engine's threads and other tests' ones, and a child forked while one of them held a lock waits for
it forever. A platform's pre-fork server forks before such threads exist, as this program does.
Prints one JSON line: the ids each claimer got, and the depth left.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

from ccaudit.shipping.spool import Spool, split

WRITERS, CLAIMERS, PER_WRITER = 3, 3, 300


def pairs(*names: str) -> list[str]:
    return [json.dumps({"event_id": name, "request_id": name}) for name in names]


def _write(spool: Spool, writer: int) -> None:
    for start in range(0, PER_WRITER, 10):
        assert spool.put(pairs(*(f"w{writer}-{n}" for n in range(start, start + 10)))) == 10


def _claim(spool: Spool, out: Path, writers_done: Any) -> None:
    claimed: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        batch = spool.claim(25, lease=60)
        if batch:
            claimed += [event_id for b in batch for event_id, _ in split(b.body)]
            spool.ack(b.seq for b in batch)
        elif writers_done.is_set() and spool.status().depth == 0:
            break
        else:
            time.sleep(0.005)
    out.write_text("\n".join(claimed))


def main(folder: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    spool = Spool(folder / "shared.sqlite3")  # opened in the parent, used by forked children
    spool.put(pairs("parent"))
    writers_done = ctx.Event()
    claimers = [ctx.Process(target=_claim, args=(spool, folder / f"c{i}", writers_done)) for i in range(CLAIMERS)]
    writers = [ctx.Process(target=_write, args=(spool, w)) for w in range(WRITERS)]
    for p in claimers + writers:
        p.start()
    for p in writers:
        p.join(60)
    writers_done.set()
    for p in claimers:
        p.join(90)
    claimed = [[line for line in (folder / f"c{i}").read_text().split("\n") if line] for i in range(CLAIMERS)]
    codes = [p.exitcode for p in claimers + writers]
    print(json.dumps({"claimed": claimed, "exitcodes": codes, "depth": spool.status().depth}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
