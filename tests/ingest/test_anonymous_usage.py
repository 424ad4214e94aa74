"""No IP address, account or e-mail address in an anonymous usage row, whoever sends it.

The middleware sends route templates and referrer hosts; a platform's token can send anything. The
service stores a page that names a value as ``(other)`` and drops a referrer that is not a host
name, and says how many it changed.
"""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccaudit.anonymous import OTHER, safe_page, safe_referrer_host
from ccaudit.ingest import Ingestor
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.ingest.test_pipeline import batch
from tests.ingest.test_usage import CHROME, rows, view

PERSONAL = [
    ("/people/frank@example.org", "news.example.org"),
    ("/u/acct-ALICE-7781?ip=198.51.100.9", "news.example.org"),
    ("grace@example.org", "news.example.org"),
    ("/p/{id}", "203.0.113.99"),
    ("/p/{id}", "[2001:db8::99]"),
    ("/p/{id}", "grace@example.org"),
    ("/p/{id}", "203.0.113.99:8080"),
    ("/files/0b9f3c1e-5a3d-4c1b-9a7e-3f2d1c0b9a8e", ""),
    ("/search/frank%40example.org", ""),
]


@pytest.mark.parametrize(("page", "referrer"), PERSONAL)
def test_personal_data_sent_straight_to_ingest_is_not_stored(store: Store, page: str, referrer: str) -> None:
    ingestor = Ingestor(Settings(), store)
    result = ingestor.ingest(batch([view("203.0.113.9", CHROME, page=page, referrer_host=referrer)]))
    assert (result.accepted, result.scrubbed) == (1, 1)
    [row] = rows(store)
    assert row["page"] in (OTHER, "/p/{id}")
    assert row["referrer_host"] in ("", "news.example.org")
    stored = " ".join(str(v) for v in row.values())
    for fragment in ("frank", "grace", "ALICE", "7781", "198.51.100.9", "203.0.113", "2001:db8", "0b9f3c1e"):
        assert fragment not in stored


def test_templates_and_host_names_are_stored_as_sent(store: Store) -> None:
    ingestor = Ingestor(Settings(), store)
    sent = [("/courses/{course_id}/lessons/<int:n>", "news.example.org"), ("/", ""), ("/api/v2/items/*", "intranet")]
    result = ingestor.ingest(batch([view("203.0.113.9", CHROME, page=p, referrer_host=r) for p, r in sent]))
    assert result.scrubbed == 0
    assert sorted((r["page"], r["referrer_host"]) for r in rows(store)) == sorted(sent)


_EMAIL = re.compile(r"[^/@\s]+@[^/@\s]+")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.emails(), st.ip_addresses().map(str), st.uuids().map(str), st.integers(0, 10**12).map(str),
            st.from_regex(r"[a-z]{1,10}", fullmatch=True), st.sampled_from(["{id}", "<int:n>", "*", "acct-7781"]),
            st.text(max_size=12),
        ),
        max_size=6,
    )
)  # fmt: skip
def test_no_page_that_passes_holds_an_address_a_number_or_an_ip(segments: list[str]) -> None:
    page = safe_page("/" + "/".join(segments))
    if page == OTHER:
        return
    for segment in page.split("/"):
        assert not _EMAIL.search(segment)
        assert not _is_ip(segment)
        assert not re.search(r"\d{3}", segment)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.ip_addresses().map(str), st.ip_addresses(v=6).map(lambda a: f"[{a}]"), st.emails(), st.text()))
def test_no_referrer_that_passes_is_an_address(host: str) -> None:
    kept = safe_referrer_host(host)
    assert not _is_ip(kept)
    assert "@" not in kept
    assert ":" not in kept
