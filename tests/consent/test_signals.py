"""Reading every configured adapter's cookie out of a Cookie header."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ccaudit.consent.adapters import ANALYTICS, AdapterConfig, build_adapters
from ccaudit.consent.signals import Reading, read_consents, read_signals

ADAPTERS = build_adapters(AdapterConfig(enabled=("ccaudit", "cookiebot", "osano", "cookieyes")))
COOKIEBOT = "{stamp:%27abc%3D%3D%27%2Cnecessary:true%2Cstatistics:true%2Cmethod:%27explicit%27%2Cver:2}"


def test_each_present_cookie_is_read_in_adapter_order() -> None:
    header = f"theme=dark; cookieconsent_status=allow; CookieConsent={COOKIEBOT}; session=1"
    found = read_consents(header, ADAPTERS)
    assert [name for name, _ in found] == ["cookiebot", "osano"]
    assert all(ANALYTICS in consent.categories_granted for _, consent in found)


def test_present_but_not_consent_is_a_reading_without_consent() -> None:
    header = "cookieconsent_status=dismiss; CookieConsent=-1"
    assert read_signals(header, ADAPTERS) == [Reading("cookiebot", None), Reading("osano", None)]
    assert read_consents(header, ADAPTERS) == []


def test_no_header_or_no_cookie_reads_nothing() -> None:
    assert read_signals(None, ADAPTERS) == []
    assert read_signals("", ADAPTERS) == []
    assert read_signals("a=1; xcookieconsent_status=allow", ADAPTERS) == []


def test_the_first_cookie_of_a_name_wins() -> None:
    found = read_consents("cookieconsent_status=deny; cookieconsent_status=allow", ADAPTERS)
    assert len(found) == 1
    assert ANALYTICS in found[0][1].categories_denied


def test_quoted_values_are_unquoted() -> None:
    assert read_consents('cookieconsent_status="allow"', ADAPTERS)[0][0] == "osano"


@given(st.text(max_size=400))
def test_any_header_is_read_without_raising(header: str) -> None:
    for reading in read_signals(header, ADAPTERS):
        assert reading.adapter in {"ccaudit", "cookiebot", "osano", "cookieyes"}
