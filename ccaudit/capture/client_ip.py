"""The client's IP address, from the peer and forwarding headers of trusted proxies only.

A forwarding header is believed only when the peer is a configured trusted proxy, and it is walked
from the right (the entry our own proxy appended) leftwards, skipping further trusted proxies; the
first untrusted address is the client. The leftmost entry is never taken blindly: a client can write
anything there. Any unparseable entry ends the walk and the peer address is used, so garbage can
never choose the recorded IP.

Which header the proxy sets is configuration (``proxy_header``): believing both would let a client
smuggle a ``Forwarded`` header past a proxy that only appends ``X-Forwarded-For``.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_MAX_HOPS = 32  # a longer chain is garbage or an attack; stop walking


def _parse_ip(text: str) -> Address | None:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _xff_entries(value: str) -> list[str]:
    return [part.strip() for part in value.split(",")]


def _forwarded_entries(value: str) -> list[str]:
    """The ``for=`` node of each element of an RFC 7239 header; '' where an element has none."""
    nodes = []
    for element in value.split(","):
        node = ""
        for pair in element.split(";"):
            name, sep, val = pair.strip().partition("=")
            if sep and name.strip().lower() == "for":
                node = val.strip()
        nodes.append(node)
    return nodes


def _strip_node(node: str) -> str:
    """RFC 7239 node → bare address text: drop quotes, IPv6 brackets and ports."""
    node = node.strip().strip('"')
    if node.startswith("["):
        return node[1 : node.find("]")] if "]" in node else ""
    if node.count(":") == 1:  # IPv4 with port
        return node.split(":", 1)[0]
    return node


class ClientIpResolver:
    """Resolves the client IP of a request. Immutable after construction; safe across threads."""

    __slots__ = ("_forwarded", "_networks", "_trusted")

    def __init__(self, trusted_proxies: tuple[str, ...], header: str = "x-forwarded-for") -> None:
        self._networks: tuple[Network, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in trusted_proxies)
        self._forwarded = header == "forwarded"
        # Few distinct peers reach a platform through its proxies: cache the membership test.
        self._trusted = lru_cache(maxsize=4096)(self._is_trusted_text)

    @property
    def header_name(self) -> bytes:
        """The lower-case request header this resolver reads, as in an ASGI scope."""
        return b"forwarded" if self._forwarded else b"x-forwarded-for"

    def _is_trusted_text(self, text: str) -> bool:
        addr = _parse_ip(text)
        return addr is not None and self._is_trusted(addr)

    def _is_trusted(self, addr: Address) -> bool:
        return any(addr.version == net.version and addr in net for net in self._networks)

    def resolve(self, peer: str | None, header_value: str | None) -> str:
        """Client IP from the peer address and the (joined) forwarding header value, or ''."""
        peer = peer or ""
        if not header_value or not self._networks or not self._trusted(peer):
            return peer
        entries = _forwarded_entries(header_value) if self._forwarded else _xff_entries(header_value)
        if len(entries) > _MAX_HOPS:
            return peer
        client = peer
        for entry in reversed(entries):
            text = _strip_node(entry) if self._forwarded else entry
            addr = _parse_ip(text)
            if addr is None:
                return peer
            client = str(addr)
            if not self._is_trusted(addr):
                return client
        # Every hop was a trusted proxy: the leftmost one is as close to the client as we can see.
        return client
