"""Cost of reading each consent manager's cookie, cached and uncached, measured in one run.

uncached  the first parse of a value: N distinct values of the manager's exact format (the consent
          id or time varies), each parsed once through a fresh adapter (its cache insert included)
cached    the same value parsed again: what every request after a visitor's first one pays
header    read_consents over a realistic Cookie header with every adapter active (all cached), beside
          decide() with our cookie only (today's request path), and their ratio

Each figure is the best of several rounds, in µs per call. Usage: python benchmarks/consent.py [--n N]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from urllib.parse import quote

from ccaudit.consent.adapters import ADAPTER_NAMES, AdapterConfig, CachedAdapter, build_adapters
from ccaudit.consent.cookie import ConsentRecord, encode_consent_cookie, parse_consent_cookie
from ccaudit.consent.decision import ConsentPolicy, decide
from ccaudit.consent.signals import read_consents

NOW = 1_764_410_000_000
UUID = "0b9f3c1e-5a3d-4c1b-9a7e-3f2d1c0b9a8e"
# A TCF v2.3 string (policy version 5, 63 vendors in a bit field, a disclosed-vendors segment and a
# publisher segment granting purposes 1, 8, 9), written by tests/consent/tcfstrings.py's encoder.
TC_STRING = "CQbq5mgQbq5mgEsACBNLB4FgAIGAAAAAABpYAfv_________-AAAAAA.IAfv_________-A.cDAAAAAAAAA"


def values(name: str, i: int) -> str:
    """The i-th distinct cookie value in the exact format of adapter ``name``."""
    if name == "ccaudit":
        record = ConsentRecord(UUID, 3, frozenset({"necessary", "analytics"}), NOW + i, NOW + i)
        return encode_consent_cookie(record)
    if name == "orestbida":
        iso = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(1_764_410_000 + i))
        record_v3 = {"categories": ["necessary", "analytics"], "revision": 2, "data": None,
                     "consentTimestamp": iso, "consentId": UUID, "services": {"analytics": ["matomo"]},
                     "languageCode": "nl", "lastConsentTimestamp": iso, "expirationTime": NOW + i}  # fmt: skip
        return quote(json.dumps(record_v3, separators=(",", ":")), safe="-_.!~*'()")
    if name == "klaro":
        return quote(json.dumps({"matomo": True, "youtube": i % 2 == 0, f"s{i}": True}, separators=(",", ":")))
    if name == "cookiebot":
        return (
            f"{{stamp:%27-1x9FqM2ZfKt3n8Ue%2B0bXwq1Vd{i}%3D%3D%27%2Cnecessary:true%2Cpreferences:false"
            f"%2Cstatistics:true%2Cmarketing:false%2Cmethod:%27explicit%27%2Cver:1%2Cutc:{NOW + i}%2Cregion:%27nl%27}}"
        )
    if name == "cookieyes":
        return (
            f"consentid:Y2RMNHRmUWR0dlVjTnVU{i},consent:yes,action:yes,necessary:yes,functional:no,"
            f"analytics:yes,performance:no,advertisement:no,other:yes,lastRenewedDate:{NOW}"
        )
    if name == "osano":
        return ("allow", "deny", "dismiss")[i % 3]
    if name == "tcf":
        # Vary the Created field's low bits (characters 2-6 of the core) without touching the rest.
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        return TC_STRING[:5] + alphabet[i % 64] + alphabet[(i // 64) % 64] + TC_STRING[7:]
    raise ValueError(name)


def best_us(run: Callable[[], None], calls: int, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        run()
        best = min(best, (time.perf_counter_ns() - start) / calls / 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="distinct values per adapter (default 2000)")
    n = parser.parse_args().n
    config = AdapterConfig(enabled=ADAPTER_NAMES, klaro_services={"matomo": "analytics", "youtube": "marketing"})
    adapters = build_adapters(config)
    print(f"{'adapter':<10} {'uncached µs':>12} {'cached µs':>10}   value")
    for adapter in adapters:
        distinct = [values(adapter.name, i) for i in range(n)]
        assert len(set(distinct)) == len(distinct) or adapter.name == "osano"
        assert adapter.parse(distinct[0]) is not None or adapter.name == "osano", adapter.name

        def uncached(a: CachedAdapter = adapter, vs: list[str] = distinct) -> None:
            a.cache_clear()
            parse_consent_cookie.cache_clear()  # our cookie's own parse cache sits beneath the adapter's
            for v in vs:
                a.parse(v)

        def cached(a: CachedAdapter = adapter, v: str = distinct[0]) -> None:
            for _ in range(n):
                a.parse(v)

        cold = best_us(uncached, n)
        adapter.parse(distinct[0])
        warm = best_us(cached, n)
        print(f"{adapter.name:<10} {cold:>12.2f} {warm:>10.3f}   {len(distinct[0])} chars")
    header = "; ".join(
        ["theme=dark", "_pk_id.1.1fff=abc", *(f"{a.cookie_name}={values(a.name, 0)}" for a in adapters), "lang=nl"]
    )
    read_consents(header, adapters)

    def whole_header() -> None:
        for _ in range(n):
            read_consents(header, adapters)

    policy = ConsentPolicy(revision=3)
    ours_header = f"theme=dark; ccaudit_consent={values('ccaudit', 0)}; lang=nl"

    def today() -> None:
        for _ in range(n):
            decide(policy, NOW, ours_header, None, None)

    reading, deciding = best_us(whole_header, n), best_us(today, n)
    print(f"read_consents, {len(adapters)} adapters, {len(header)}-char header, cached: {reading:.2f} µs")
    print(f"decide() with our cookie only (today's request path), cached: {deciding:.2f} µs")
    print(f"ratio read_consents/decide={reading / deciding:.1f}")


if __name__ == "__main__":
    main()
