"""Ingest: validate → enrich → insert, shared by the HTTP endpoint and in-process shipping."""

from ccaudit.ingest.pipeline import Ingestor, IngestResult

__all__ = ["IngestResult", "Ingestor"]
