"""Count a platform's audit rows at the storage level, in a process of its own.

    python -m tests.faults.storage <dsn> <platform>

prints one JSON object: ``rows`` (without FINAL: every stored copy, redeliveries not yet merged
included), ``final`` (with FINAL: what reads see) and ``final_duplicates`` (request ids that FINAL
still shows more than once, counted beyond the first). A process of its own because the embedded
engine opens one data folder per process: the scenario's process must not hold one, and the service
must have released the folder (stopped) before this runs against it.
"""

from __future__ import annotations

import json
import sys

from ccaudit.store.client import open_client

DATABASE = "ccaudit"


def count(dsn: str, platform: str) -> dict[str, int]:
    client = open_client(dsn)
    params = {"platform": platform}
    table = f"{DATABASE}.audit_events"
    rows = client.command(f"SELECT count() FROM {table} WHERE platform = {{platform:String}}", parameters=params)
    final = client.command(f"SELECT count() FROM {table} FINAL WHERE platform = {{platform:String}}", parameters=params)
    dups = client.command(
        f"SELECT sum(c - 1) FROM (SELECT request_id, count() AS c FROM {table} FINAL "
        "WHERE platform = {platform:String} GROUP BY request_id HAVING c > 1)",
        parameters=params,
    )
    return {"rows": int(rows), "final": int(final), "final_duplicates": int(dups or 0)}


if __name__ == "__main__":
    sys.stdout.write(json.dumps(count(sys.argv[1], sys.argv[2])) + "\n")
