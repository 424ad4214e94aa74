"""Tamper evidence: rows' leaves, periods' Merkle roots in signed seals chained per platform and
stream, and a verifier that names what changed (see docs/tamper-evidence.md)."""
