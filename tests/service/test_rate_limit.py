"""The ingest rate limit: one bucket per token however its header is spaced, and a bounded table of
buckets that never forgets a token still paying for its burst."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ccaudit.service.ratelimit import RateLimiter
from tests.conftest import Service
from tests.ingest.test_pipeline import batch
from tests.service.processes import running_service


class Clock:
    """The limiter's monotonic clock, moved by the test (no test waits for real time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_spaced_spellings_of_one_token_share_its_bucket() -> None:
    limiter = RateLimiter(rate=1.0, burst=2, clock=Clock())
    spellings = ["cca_x", " cca_x", "   cca_x", "cca_x  ", "\tcca_x\t", " cca_x\r\n"]
    answers = [limiter.acquire(s) for s in spellings]
    assert answers[:2] == [0.0, 0.0]
    assert all(wait > 0 for wait in answers[2:])
    assert len(limiter) == 1


def test_a_full_table_keeps_every_bucket_still_refilling() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=2, max_keys=3, clock=clock)
    assert [limiter.acquire("busy") for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("busy") > 0
    assert limiter.acquire("b") == 0.0
    assert limiter.acquire("c") == 0.0
    # The table is full and every bucket in it is still refilling: the newcomer waits, nobody is forgotten.
    wait = limiter.acquire("newcomer")
    assert wait > 0
    assert limiter.acquire("busy") > 0
    assert len(limiter) == 3
    # Once the least recently used bucket has refilled it may go (a full bucket and none are alike).
    clock.now += wait + 2.0
    assert limiter.acquire("newcomer") == 0.0
    assert len(limiter) == 3


def test_the_table_stays_bounded_under_many_tokens() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10.0, burst=5, max_keys=100, clock=clock)
    refused = 0
    for n in range(5000):
        clock.now += 0.01
        refused += limiter.acquire(f"token-{n}") > 0
    assert len(limiter) <= 100
    # Each token refills a tenth of a second after its batch, long before a hundred newer ones arrive:
    # the refilled buckets make room, and no newcomer waits.
    assert refused == 0


# --- through a real service ---


@pytest.fixture(scope="module")
def limited_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service whose tokens may send 2 batches at once and then (practically) no more."""
    folder = Path(tmp_path_factory.mktemp("limited"))
    with running_service(folder, CCAUDIT_INGEST_BURST="2", CCAUDIT_INGEST_RATE="0.0001") as service:
        yield service


@pytest.mark.e2e
def test_spaced_authorization_headers_get_no_fresh_bucket(limited_service: Service) -> None:
    token = limited_service.ingest_token("spaced")
    # A header value's trailing whitespace is not part of it (HTTP strips it); the spaces that were
    # each a fresh bucket are those between the scheme and the token.
    spellings = [f"Bearer{' ' * n}{token}" for n in range(1, 31)]
    answers = [
        httpx.post(
            limited_service.url + "/v1/events",
            json=batch([], "spaced"),
            headers={"Authorization": spelling, "Content-Type": "application/json"},
            timeout=10,
        )
        for spelling in spellings
    ]
    let_through = [a.status_code for a in answers if a.status_code != 429]
    assert len(let_through) <= 2, [a.status_code for a in answers]
    assert all(a.headers.get("Retry-After") for a in answers if a.status_code == 429)
