"""A running service records itself in its data folder, so the command line finds it.

``<data dir>/service.json`` holds the service's URL, its pid and a random instance id that the
service also reports in ``GET /health``. The command line, pointed at a data folder, talks to the
service at that URL only when the service answering there reports the same instance id: a stale file
or another deployment's service on the same port is never mistaken for the one holding the folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

FILE_NAME = "service.json"


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    url: str
    pid: int
    instance: str


def record_path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def write_record(data_dir: Path, record: ServiceRecord) -> None:
    """Write the record atomically (a reader never sees half of it)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    partial = record_path(data_dir).with_suffix(".json.partial")
    partial.write_text(json.dumps(asdict(record)))
    os.replace(partial, record_path(data_dir))


def read_record(data_dir: Path) -> ServiceRecord | None:
    """The record in ``data_dir``, or None when there is none or it cannot be read."""
    try:
        data = json.loads(record_path(data_dir).read_text())
        return ServiceRecord(str(data["url"]), int(data["pid"]), str(data["instance"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_record(data_dir: Path, instance: str) -> None:
    """Remove the record if it is still this instance's (a newer service may have replaced it)."""
    record = read_record(data_dir)
    if record is not None and record.instance == instance:
        record_path(data_dir).unlink(missing_ok=True)
