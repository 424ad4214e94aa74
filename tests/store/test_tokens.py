"""Ingest tokens in the real embedded engine: made only for platform names ingest accepts; rotation
and revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ccaudit.store import Store
from ccaudit.store.tokens import InvalidPlatform, TokenStore


@pytest.fixture
def tokens(store: Store) -> TokenStore:
    return TokenStore(store.client, store.database)


@pytest.mark.parametrize("platform", ["Coop", "", "-coop", "co op", "c" * 64])
def test_no_token_for_a_name_ingest_refuses(tokens: TokenStore, platform: str) -> None:
    with pytest.raises(InvalidPlatform, match="is not a platform name"):
        tokens.create(platform)
    with pytest.raises(InvalidPlatform):
        tokens.rotate(platform, timedelta(hours=1))
    assert tokens.list_tokens() == []


def test_rotate_keeps_the_old_token_for_the_grace_period_and_revoke_ends_it(tokens: TokenStore) -> None:
    old, old_info = tokens.create("coop")
    other, _ = tokens.create("library")
    new, new_info = tokens.rotate("coop", timedelta(hours=1))
    assert (tokens.verify(old), tokens.verify(new), tokens.verify(other)) == ("coop", "coop", "library")
    ends = {t.token_id: t.not_after for t in tokens.list_tokens()}
    assert ends[new_info.token_id] is None
    ending = ends[old_info.token_id]
    assert ending is not None
    assert ending > datetime.now(UTC) + timedelta(minutes=59)

    revoked = tokens.revoke(old_info.token_id)
    assert revoked is not None
    assert revoked.platform == "coop"
    assert tokens.verify(old) is None
    assert tokens.verify(new) == "coop"
    assert tokens.revoke("0123456789abcdef") is None
