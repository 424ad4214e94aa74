"""``ccaudit serve`` processes with settings of their own, for the service's tests.

``open_files`` starts the service with that soft and hard limit on open files (RLIMIT_NOFILE), as a
host with a low ``ulimit -n`` would: how many connections the service can hold depends on it.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import Service, clean_env, free_port, start_process, stop_process

# Runs the command line as `python -m ccaudit` does, after lowering the limit (argv[1] is the limit).
_LIMITED = (
    "import resource, runpy, sys; n = int(sys.argv.pop(1)); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); runpy.run_module('ccaudit', run_name='__main__')"
)


@contextmanager
def running_service(folder: Path, *, open_files: int | None = None, **env: str) -> Iterator[Service]:
    """A real ``ccaudit serve`` on its own data folder and port, with ``CCAUDIT_*`` settings ``env``;
    stopped (and required to stop cleanly) on exit."""
    port = free_port()
    token = secrets.token_urlsafe(16)
    environment = clean_env(
        CCAUDIT_DATA_DIR=str(folder / "data"), CCAUDIT_PORT=str(port), CCAUDIT_ADMIN_TOKEN=token, **env
    )
    command = [sys.executable, "-m", "ccaudit", "serve"]
    if open_files is not None:
        command = [sys.executable, "-c", _LIMITED, str(open_files), "serve"]
    proc = start_process(command, environment, f"http://127.0.0.1:{port}", folder / "log", "/health")
    try:
        yield Service(proc, token)
    finally:
        assert stop_process(proc) == 0, proc.output()
