"""Page views end to end through the Starlette kit over real HTTP, one fixed case per consent signal.

Each case visits a public page with a referrer host of its own, so the summary API, filtered by that
referrer, tells exactly what each case stored.
"""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import quote

import httpx
import pytest

from ccaudit.consent import ConsentRecord, encode_consent_cookie
from tests.conftest import Proc, Service, wait_until

pytestmark = pytest.mark.e2e

DAY_MS = 86_400_000
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
BOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"


def consent(revision: int = 1, age_days: int = 0, categories: tuple[str, ...] = ("necessary", "analytics")) -> str:
    now = time.time_ns() // 1_000_000
    record = ConsentRecord(
        str(uuid.uuid4()), revision, frozenset(categories), now - age_days * DAY_MS, now - age_days * DAY_MS
    )
    return encode_consent_cookie(record)


# case → (consent cookie value or None, extra headers, user agent, stored as a counted page view?)
CASES: dict[str, tuple[str | None, dict[str, str], str, bool]] = {
    "valid": (consent(), {}, CHROME, True),
    "gpc": (consent(), {"Sec-GPC": "1"}, CHROME, False),
    "dnt": (consent(), {"DNT": "1"}, CHROME, False),
    "no-cookie": (None, {}, CHROME, False),
    "malformed": (quote(json.dumps({"v": 1, "cats": ["analytics"]})), {}, CHROME, False),
    "old-revision": (consent(revision=0), {}, CHROME, False),
    "expired": (consent(age_days=200), {}, CHROME, False),
    "rejected": (consent(categories=("necessary",)), {}, CHROME, False),
}


def test_page_views_land_only_with_valid_consent(kit: Proc, service: Service) -> None:
    run = uuid.uuid4().hex[:8]
    hosts = {name: f"{name}-{run}.example" for name in [*CASES, "bot"]}
    for name, (cookie, extra, agent, _) in CASES.items():
        headers = {"User-Agent": agent, "Referer": f"https://{hosts[name]}/some/page?q=1", **extra}
        cookies = {"ccaudit_consent": cookie} if cookie is not None else {}
        with httpx.Client(base_url=kit.url, cookies=cookies, timeout=10) as client:
            assert client.get("/about", headers=headers).status_code == 200
    with httpx.Client(base_url=kit.url, cookies={"ccaudit_consent": consent()}, timeout=10) as bot:
        assert bot.get("/", headers={"User-Agent": BOT, "Referer": f"https://{hosts['bot']}/"}).status_code == 200

    def counted(name: str) -> dict[str, int]:
        [*days] = service.usage_summary(platform="coop", referrer=hosts[name])["days"]
        return {k: sum(d[k] for d in days) for k in ("page_views", "visitors", "bot_views")}

    # The valid case and the bot arrive; then every other case has had ample time to arrive too.
    wait_until(lambda: counted("valid")["page_views"] == 1)
    wait_until(lambda: counted("bot")["bot_views"] == 1)
    time.sleep(0.5)
    assert counted("valid") == {"page_views": 1, "visitors": 1, "bot_views": 0}
    assert counted("bot") == {"page_views": 0, "visitors": 0, "bot_views": 1}  # a bot is never a visitor
    for name, (_, _, _, stored) in CASES.items():
        if not stored:
            assert counted(name) == {"page_views": 0, "visitors": 0, "bot_views": 0}, name
    summary = service.usage_summary(platform="coop", referrer=hosts["valid"])
    assert summary["pages"] == [{"key": "/about", "page_views": 1}]
    assert summary["browsers"] == [{"key": "Chrome", "page_views": 1}]
    assert summary["devices"] == [{"key": "desktop", "page_views": 1}]


def test_usage_summary_requires_the_admin_token_and_names_bad_parameters(service: Service) -> None:
    assert httpx.get(service.url + "/v1/usage/summary").status_code == 401
    headers = {"Authorization": f"Bearer {service.reader}"}
    for params, named in (({"since": "yesterday"}, "since"), ({"top": "0"}, "top"), ({"x": "1"}, "x"),
                          ({"since": "2026-01-02", "until": "2026-01-01"}, "since")):  # fmt: skip  # fixed date: since > until on any day
        response = httpx.get(service.url + "/v1/usage/summary", params=params, headers=headers)
        assert response.status_code == 400
        assert response.json()["error"].startswith(named + ":")


@pytest.mark.parametrize(("kit_name", "platform"), [("flask_kit", "learning"), ("django_kit", "library")])
def test_wsgi_kits_record_page_views_only_with_consent(
    kit_name: str, platform: str, service: Service, request: pytest.FixtureRequest
) -> None:
    kit: Proc = request.getfixturevalue(kit_name)
    run = uuid.uuid4().hex[:8]
    with_consent, with_gpc = f"yes-{run}.example", f"gpc-{run}.example"
    with httpx.Client(base_url=kit.url, cookies={"ccaudit_consent": consent()}, timeout=10) as client:
        assert client.get("/", headers={"User-Agent": CHROME, "Referer": f"https://{with_consent}/"}).status_code == 200
        gpc = {"User-Agent": CHROME, "Referer": f"https://{with_gpc}/", "Sec-GPC": "1"}
        assert client.get("/", headers=gpc).status_code == 200

    def views(host: str) -> int:
        return int(service.usage_summary(platform=platform, referrer=host)["page_views"])

    wait_until(lambda: views(with_consent) == 1)
    time.sleep(0.5)
    assert views(with_consent) == 1
    assert views(with_gpc) == 0
    summary = service.usage_summary(platform=platform, referrer=with_consent)
    assert summary["pages"] == [{"key": "/", "page_views": 1}]
