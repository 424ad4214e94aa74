"""Writes tests/seal/vectors.json: rows of each stream with their secrets and every intermediate
value (canonical bytes, commitment, digest, expiry, leaf), Merkle roots over 0 to 5 leaves, and a
signed seal under a fixed test key. Run it only when the canonical form changes version:
``python -m tests.seal.make_vectors``.

fixed dates: the rows are test vectors, never stored, and no TTL or clock reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ccaudit.seal import canonical as cf
from ccaudit.seal import keys, merkle
from ccaudit.seal.seals import GENESIS, Seal

HERE = Path(__file__).parent
# A test key, public on purpose: Ed25519 signatures are deterministic, so the vector's signature is fixed.
TEST_SEED = bytes(range(32))

AUDIT_ROWS: list[dict[str, Any]] = [
    {
        "event_id": "0190f5d2-1111-7000-8000-000000000001", "event_time": "2021-05-01T10:00:00.123Z",
        "received_at": "2021-05-01T10:00:01.000Z", "platform": "coop", "organisation": "org-a",
        "actor_role": "admin", "admin_operation": True, "action": "user.update", "resource_type": "user",
        "method": "POST", "status": 200, "outcome": "success", "duration_ms": 12.5, "browser": "Firefox",
        "browser_version": "126", "os": "Linux", "device": "desktop", "is_bot": False, "request_id": "r-1",
        "trace_id": "", "span_id": "", "retention_days": 730,
        "actor_account_id": "acct-1", "actor_profile_id": "", "subject_id": "subj-9", "route": "/admin/users/9",
        "resource_id": "9", "client_ip": "192.0.2.7", "peer_ip": "10.0.0.1",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
        "details": {"zeta": "1", "field": "naam", "émoji": "✓"},
    },
    {
        "event_id": "0190f5d2-1111-7000-8000-000000000002", "event_time": "2021-05-01T10:00:02.000Z",
        "received_at": "2021-05-01T10:00:03.500Z", "platform": "coop", "organisation": "",
        "actor_role": "", "admin_operation": False, "action": "http.DELETE", "resource_type": "",
        "method": "DELETE", "status": 403, "outcome": "denied", "duration_ms": 0.1, "browser": "",
        "browser_version": "", "os": "", "device": "", "is_bot": True, "request_id": "", "trace_id": "t",
        "span_id": "s", "retention_days": 90,
        "actor_account_id": "", "actor_profile_id": "p-2", "subject_id": "", "route": "/x", "resource_id": "",
        "client_ip": "2001:db8::1", "peer_ip": "", "user_agent": "", "details": {},
    },
]  # fmt: skip

CONSENT_ROWS: list[dict[str, Any]] = [
    {
        "event_id": "0190f5d2-2222-7000-8000-000000000001", "event_time": "2021-05-01T10:00:00.000Z",
        "received_at": "2021-05-01T10:00:00.250Z", "platform": "coop",
        "categories_accepted": ["necessary", "analytics"], "categories_rejected": [], "services_accepted": [],
        "services_rejected": ["video"], "method": "banner", "action": "custom", "policy_revision": 3,
        "banner_text_sha256": "ab" * 32, "language": "nl", "gpc": False, "dnt": True, "retention_days": 1825,
        "consent_id": "c-1", "account_id": "",
    },
]  # fmt: skip

ACCESS_ROWS: list[dict[str, Any]] = [
    {
        "access_id": "0190f5d2-3333-7000-8000-000000000001", "event_time": "2021-05-01T10:00:00.000Z",
        "principal_kind": "account", "role": "auditor", "route": "/v1/audit/export", "kind": "export",
        "rows": 0, "complete": False, "principal": "account:a-1", "account_id": "a-1",
        "filters": '{"actor":"acct-1"}',
    },
]  # fmt: skip


LEARNING_ROWS: list[dict[str, Any]] = [
    {
        "event_id": "0190f5d2-4444-7000-8000-000000000001", "event_time": "2021-05-01T10:00:00.000Z",
        "received_at": "2021-05-01T10:00:00.400Z", "platform": "learn", "verb": "passed", "organisation": "org-a",
        "module": "m-1", "lesson": "l-2", "registration": "reg-1", "progress": 100, "score": 0.85,
        "duration_ms": None, "request_id": "r-7", "retention_days": 730,
        "learner": "learner-1", "profession": "teacher", "reason": "",
    },
    {
        "event_id": "0190f5d2-4444-7000-8000-000000000002", "event_time": "2021-05-01T10:00:05.000Z",
        "received_at": "2021-05-01T10:00:05.100Z", "platform": "learn", "verb": "waived", "organisation": "",
        "module": "m-2", "lesson": "", "registration": "", "progress": None, "score": None,
        "duration_ms": 1500.0, "request_id": "", "retention_days": 730,
        "learner": "learner-2", "profession": "student", "reason": "prior learning",
    },
]  # fmt: skip

CHANGES_ROWS: list[dict[str, Any]] = [
    {
        "change_id": "0190f5d2-5555-7000-8000-000000000001", "event_time": "2021-05-02T10:00:00.000Z",
        "platform": "coop", "stream": "audit", "row_id": "0190f5d2-1111-7000-8000-000000000001",
        "change": "erased", "expires_ms": 1682935200000, "cause": "erase:0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    },
]  # fmt: skip


def _row_vector(form: cf.StreamForm, row: dict[str, Any], n: int) -> dict[str, Any]:
    secret = bytes([n] * 32)
    commitment = cf.commitment(form, row, secret)
    digest = cf.row_digest(form, row, commitment)
    rid = cf.row_id(form, row)
    expires = cf.expires_ms(form, row)
    return {
        "stream": form.stream,
        "row": row,
        "secret_hex": secret.hex(),
        "personal_canonical_hex": cf.canonical_personal(form, row).hex(),
        "commitment": commitment,
        "row_canonical_hex": cf.canonical_row(form, row, commitment).hex(),
        "digest": digest,
        "row_id": rid,
        "expires_ms": expires,
        "leaf": cf.leaf(rid, expires, digest),
    }


def build() -> dict[str, Any]:
    rows = []
    n = 1
    for form, items in ((cf.AUDIT, AUDIT_ROWS), (cf.CONSENT, CONSENT_ROWS), (cf.ACCESS, ACCESS_ROWS),
                        (cf.LEARNING, LEARNING_ROWS), (cf.CHANGES, CHANGES_ROWS)):  # fmt: skip
        for row in items:
            rows.append(_row_vector(form, row, n))
            n += 1
    leaves = [r["leaf"] for r in rows]
    trees = [{"leaves": leaves[:k], "root": merkle.root(leaves[:k])} for k in range(len(leaves) + 1)]
    private = Ed25519PrivateKey.from_private_bytes(TEST_SEED)
    seal = Seal("coop", "audit", 1, 0, 1619863200000, 2, trees[2]["root"], GENESIS, keys.key_id(private.public_key()),
                1619863230000)  # fmt: skip
    return {
        "version": cf.VERSION,
        "rows": rows,
        "trees": trees,
        "seal": {
            "private_seed_hex": TEST_SEED.hex(),
            "public_key_hex": keys.public_hex(private.public_key()),
            "key_id": seal.key_id,
            "payload": seal.payload().decode(),
            "hash": seal.hash(),
            "signature": private.sign(seal.payload()).hex(),
        },
    }


if __name__ == "__main__":
    (HERE / "vectors.json").write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n")
