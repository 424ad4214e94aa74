"""The test vectors (tests/seal/vectors.json) hold for this implementation: every intermediate value
of every row, the Merkle roots, and the seal's hash and signature. An outside implementation checks
itself against the same file (docs/tamper-evidence.md says how)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from ccaudit.seal import canonical as cf
from ccaudit.seal import keys, merkle
from ccaudit.seal.seals import Seal
from ccaudit.store.client import query_rows
from tests.seal.make_vectors import build

VECTORS: dict[str, Any] = json.loads((Path(__file__).parent / "vectors.json").read_text())


@pytest.mark.parametrize("vector", VECTORS["rows"], ids=lambda v: v["row_id"])
def test_each_rows_commitment_digest_and_leaf_are_the_vectors(vector: dict[str, Any]) -> None:
    form = cf.STREAMS[vector["stream"]]
    row = vector["row"]
    secret = bytes.fromhex(vector["secret_hex"])
    assert cf.canonical_personal(form, row).hex() == vector["personal_canonical_hex"]
    assert cf.commitment(form, row, secret) == vector["commitment"]
    assert cf.canonical_row(form, row, vector["commitment"]).hex() == vector["row_canonical_hex"]
    assert cf.row_digest(form, row, vector["commitment"]) == vector["digest"]
    assert cf.row_id(form, row) == vector["row_id"]
    assert cf.expires_ms(form, row) == vector["expires_ms"]
    assert cf.leaf(vector["row_id"], vector["expires_ms"], vector["digest"]) == vector["leaf"]


def test_a_changed_field_changes_the_leaf_and_a_personal_one_only_through_the_commitment() -> None:
    vector = VECTORS["rows"][0]
    row = dict(vector["row"])
    secret = bytes.fromhex(vector["secret_hex"])
    assert cf.row_digest(cf.AUDIT, {**row, "status": 500}, vector["commitment"]) != vector["digest"]
    # A personal value enters the digest only through its commitment: replaced (erasure), the digest
    # over the sealed commitment stands, while the commitment over the new value differs.
    erased = {**row, "actor_account_id": "erased:1", "client_ip": ""}
    assert cf.row_digest(cf.AUDIT, erased, vector["commitment"]) == vector["digest"]
    assert cf.commitment(cf.AUDIT, erased, secret) != vector["commitment"]


@pytest.mark.parametrize("tree", VECTORS["trees"], ids=lambda t: str(len(t["leaves"])))
def test_merkle_roots_are_the_vectors(tree: dict[str, Any]) -> None:
    assert merkle.root(tree["leaves"]) == tree["root"]


def _engine_root(client: Client, leaves: list[bytes]) -> str:
    sql = f"SELECT {merkle.root_sql('arrayMap(x -> unhex(x), {leaves:Array(String)})')}"
    return str(query_rows(client, sql, {"leaves": [x.hex() for x in leaves]})[0][0])


@pytest.mark.parametrize("tree", VECTORS["trees"], ids=lambda t: str(len(t["leaves"])))
def test_the_engines_merkle_roots_are_the_vectors(chdb_client: Client, tree: dict[str, Any]) -> None:
    assert _engine_root(chdb_client, [bytes.fromhex(x) for x in tree["leaves"]]) == tree["root"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=300))
def test_the_engines_merkle_root_is_pythons_for_any_number_of_leaves(chdb_client: Client, leaves: list[bytes]) -> None:
    assert _engine_root(chdb_client, leaves) == merkle.root_of(b"".join(leaves))


def test_the_seals_hash_and_signature_are_the_vectors() -> None:
    vector = VECTORS["seal"]
    seal = Seal.from_payload(vector["payload"])
    assert seal.payload().decode() == vector["payload"]
    assert seal.hash() == vector["hash"]
    assert keys.verify_signature(vector["public_key_hex"], seal.payload(), vector["signature"])
    assert not keys.verify_signature(vector["public_key_hex"], seal.payload() + b" ", vector["signature"])


def test_the_vector_file_is_what_the_generator_writes() -> None:
    assert json.loads(json.dumps(build(), ensure_ascii=False)) == VECTORS
