"""Client IP resolution: only trusted proxies' headers count, walked from the right."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccaudit.capture.client_ip import ClientIpResolver

PROXIES = ("10.0.0.0/8", "fd00::/8")
XFF = ClientIpResolver(PROXIES)
FWD = ClientIpResolver(PROXIES, header="forwarded")


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # untrusted peer: header ignored
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # spoofed leftmost entry ignored
        ("10.0.0.2", "198.51.100.1, 10.0.0.9", "198.51.100.1"),  # chained trusted proxies skipped
        ("10.0.0.2", "10.0.0.7, 10.0.0.9", "10.0.0.7"),  # all trusted: the farthest one
        ("10.0.0.2", "garbage, 198.51.100.1", "198.51.100.1"),  # walk stops before the garbage
        ("10.0.0.2", "198.51.100.1, garbage", "10.0.0.2"),  # garbage nearest to us: the peer
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", "2001:db8::1", "2001:db8::1"),
        ("10.0.0.2", "::ffff:198.51.100.1", "198.51.100.1"),
        (None, "198.51.100.1", ""),
    ],
)
def test_x_forwarded_for(peer: str | None, header: str, expected: str) -> None:
    assert XFF.resolve(peer, header) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("for=198.51.100.1", "198.51.100.1"),
        ('for="[2001:db8::17]:4711";proto=https', "2001:db8::17"),
        ("for=198.51.100.1:8080", "198.51.100.1"),
        ("for=6.6.6.6, for=198.51.100.1;by=10.0.0.2", "198.51.100.1"),
        ("for=unknown", "10.0.0.2"),
        ("for=_hidden, for=198.51.100.1", "198.51.100.1"),
        ("proto=https", "10.0.0.2"),
    ],
)
def test_forwarded(header: str, expected: str) -> None:
    assert FWD.resolve("10.0.0.2", header) == expected


def test_no_trusted_proxies_means_the_peer() -> None:
    assert ClientIpResolver(()).resolve("10.0.0.2", "198.51.100.1") == "10.0.0.2"


addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
entries = st.one_of(addresses, st.text(max_size=20))


def norm(text: str) -> str | None:
    """The address as the resolver reports it (IPv4-mapped IPv6 as IPv4), or None if not one."""
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    mapped = getattr(addr, "ipv4_mapped", None)
    return str(mapped or addr)


@given(st.one_of(addresses, st.none()), st.lists(entries, max_size=40), st.booleans())
def test_result_is_the_peer_or_a_listed_address(peer: str | None, chain: list[str], forwarded: bool) -> None:
    resolver = FWD if forwarded else XFF
    header = ", ".join(f'for="{e}"' if forwarded else e for e in chain)
    result = resolver.resolve(peer, header)
    if result:
        assert norm(result) is not None  # always a valid address, never garbage
    if peer is None or not XFF._is_trusted_text(peer):
        assert result == (peer or "")
    else:
        assert result == peer or result in {norm(e) for e in chain}


@given(st.lists(addresses, min_size=1, max_size=10), addresses)
def test_an_untrusted_client_cannot_be_displaced_by_entries_to_its_left(spoofed: list[str], client: str) -> None:
    # Whatever a client writes to the left, the entry our proxy appended decides.
    if XFF._is_trusted_text(client):
        return
    assert XFF.resolve("10.1.2.3", ", ".join([*spoofed, client])) == norm(client)
