"""``make faults``: run every fault scenario, one line each; exit 1 if any lost or doubled an event.

python -m tests.faults.run [scenario ...]
"""

from __future__ import annotations

import sys
import tempfile
import traceback
from pathlib import Path

from tests.faults.scenarios import SCENARIOS


def main(names: list[str]) -> int:
    failed = 0
    for name in names or list(SCENARIOS):
        with tempfile.TemporaryDirectory(prefix=f"ccaudit-fault-{name}-") as folder:
            try:
                outcome = SCENARIOS[name](Path(folder))
            except Exception as exc:
                failed += 1
                traceback.print_exc(file=sys.stderr)
                print(f"fault {name}: error {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
                continue
        print(outcome.line(), flush=True)
        failed += not outcome.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
