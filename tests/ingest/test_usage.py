"""Usage analytics on the real embedded engine: enrichment, anonymity, salts, the summary."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ccaudit import CaptureMiddleware, Identity, Settings
from ccaudit.ids import new_id
from ccaudit.ingest import Ingestor
from ccaudit.ingest.inprocess import inprocess_transport
from ccaudit.ingest.salts import DailySalts
from ccaudit.shipping.recorder import Recorder
from ccaudit.store import Store
from ccaudit.store.usage import UsageQuery
from tests.capture.test_page_views import consent_cookie
from tests.ingest.test_pipeline import batch

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 uniq-7731"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.fixture(scope="module")
def geoip_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real MaxMind-format database, made here: 203.0.113.0/24 → NL, 2001:db8::/32 → BE."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-Country")
    writer.insert_network(IPSet(["203.0.113.0/24"]), {"country": {"iso_code": "NL"}})
    writer.insert_network(IPSet(["2001:db8::/32"]), {"country": {"iso_code": "BE"}})
    path = tmp_path_factory.mktemp("geo") / "country.mmdb"
    writer.to_db_file(str(path))
    return path


def view(ip: str, ua: str, page: str = "/courses/{id}", when: datetime | None = None, **extra: Any) -> dict[str, Any]:
    ms = int((when or datetime.now(UTC)).timestamp() * 1000)
    return {"stream": "usage", "event_id": new_id(ms), "event_time": ms, "page": page, "user_agent": ua,
            "client_ip": ip, **extra}  # fmt: skip


def rows(store: Store) -> list[dict[str, Any]]:
    result = store.client.query(f"SELECT * FROM {store.database}.usage_events FINAL")
    return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]


def today_summary(store: Store, **filters: Any) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return store.summarise_usage(UsageQuery(since=today - timedelta(days=1), until=today, **filters))


def test_page_views_are_enriched_with_country_device_and_a_visitor_hash(store: Store, geoip_db: Path) -> None:
    ingestor = Ingestor(Settings(geoip_db=geoip_db), store)
    ingestor.ingest(batch([view("203.0.113.9", CHROME, referrer_host="news.example"), view("2001:db8::1", CHROME),
                           view("192.0.2.1", BOT)]))  # fmt: skip
    by_ip_country = {r["country"]: r for r in rows(store)}
    assert set(by_ip_country) == {"NL", "BE", ""}
    nl = by_ip_country["NL"]
    assert (nl["browser"], nl["os"], nl["device"], nl["is_bot"]) == ("Chrome", "Windows", "desktop", False)
    assert len(nl["visitor_hash"]) == 32
    assert nl["retention_days"] == 30
    assert by_ip_country[""]["is_bot"] is True


def test_stored_usage_rows_hold_no_ip_account_or_user_agent(store: Store) -> None:
    """Through the real middleware and in-process shipping: every column of every row is scanned."""
    ip, account, profile = "198.51.100.231", "acct-secret-4711", "profile-0815"

    async def page(request: Request) -> Response:
        return HTMLResponse("<p>course</p>")

    def resolver(scope: Any) -> Identity:
        return Identity(account_id=account, profile_id=profile, organisation="org-x", role="user")

    settings = Settings(platform="learn", database=store.database)
    recorder = Recorder(inprocess_transport(settings, store), platform="learn", flush_interval=60)
    app = CaptureMiddleware(
        Starlette(routes=[Route("/courses/{cid}", page)]), settings, resolver=resolver, recorder=recorder
    )
    scope = {"type": "http", "method": "GET", "path": f"/courses/{account}", "root_path": "", "query_string": b"",
             "headers": [(b"user-agent", CHROME.encode()), (b"cookie", consent_cookie().encode())],
             "client": (ip, 5555)}  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        pass

    asyncio.run(app(scope, receive, send))
    assert recorder.force_flush(10)
    recorder.shutdown(5)
    stored = rows(store)
    assert len(stored) == 1
    for row in stored:
        for column, value in row.items():
            text = str(value)
            for secret in (ip, account, profile, CHROME, "uniq-7731"):
                assert secret not in text, f"{column} holds {secret!r}"


def test_bots_are_page_views_apart_and_never_visitors(store: Store) -> None:
    ingestor = Ingestor(Settings(), store)
    ingestor.ingest(batch([view("203.0.113.1", CHROME), view("203.0.113.1", CHROME), view("203.0.113.2", CHROME),
                           view("192.0.2.50", BOT), view("192.0.2.51", BOT)]))  # fmt: skip
    summary = today_summary(store, platform="coop")
    [day] = summary["days"]
    assert (day["page_views"], day["visitors"], day["bot_views"]) == (3, 2, 2)
    assert summary["pages"] == [{"key": "/courses/{id}", "page_views": 3}]
    assert summary["browsers"] == [{"key": "Chrome", "page_views": 3}]


def test_summary_filters_and_top_lists(store: Store) -> None:
    ingestor = Ingestor(Settings(), store)
    events = [
        view(f"203.0.113.{n}", CHROME, page=f"/p/{n % 3}", referrer_host=f"ref{n % 2}.example") for n in range(12)
    ]
    ingestor.ingest(batch(events))
    ingestor.ingest(batch([view("203.0.113.200", CHROME)], platform="other"))
    summary = today_summary(store, platform="coop", top=2)
    assert summary["page_views"] == 12
    assert len(summary["pages"]) == 2
    assert {r["key"] for r in summary["referrers"]} == {"ref0.example", "ref1.example"}
    assert today_summary(store, platform="coop", referrer="ref1.example")["page_views"] == 6
    assert today_summary(store, platform="coop", page="/p/0")["page_views"] == 4
    assert today_summary(store)["page_views"] == 13  # all platforms


def test_a_days_salt_is_gone_two_days_later(store: Store) -> None:
    # The salt table's TTL runs on the engine's clock: start from the engine's today, so that the
    # salt is alive when stored and only the injected clock moves on.
    monday: date = store.client.query("SELECT toDate(now('UTC'))").result_rows[0][0]
    clock = {"today": monday}
    salts = DailySalts(store.client, store.database, today=lambda: clock["today"])
    hashed = salts.visitor_hash(monday, "coop", "203.0.113.9", CHROME)
    assert hashed
    clock["today"] = monday + timedelta(days=1)
    assert salts.visitor_hash(monday, "coop", "203.0.113.9", CHROME) == hashed  # yesterday: still there
    clock["today"] = monday + timedelta(days=2)
    assert salts.salt_for(monday) is None  # outside the window
    salts.salt_for(clock["today"])  # the first use on a new day purges old salts
    stored = store.client.query(f"SELECT day FROM {store.database}.visitor_salts").result_rows
    assert monday not in {r[0] for r in stored}
    # A fresh replica cannot bring it back either.
    assert DailySalts(store.client, store.database, today=lambda: clock["today"]).salt_for(monday) is None


def test_two_replicas_give_the_same_visitor_the_same_hash(store: Store) -> None:
    """Two ingest pipelines with their own caches, like two service replicas on one ClickHouse, race
    to create the day's salt; both must end up with the one the store kept."""
    today = datetime.now(UTC).date()
    replicas = [DailySalts(store.client, store.database) for _ in range(4)]
    results: list[str] = []
    start = threading.Barrier(len(replicas))

    def work(salts: DailySalts) -> None:
        start.wait()
        results.append(salts.visitor_hash(today, "coop", "203.0.113.9", CHROME))

    threads = [threading.Thread(target=work, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert results[0]
    count = store.client.command(
        f"SELECT count() FROM {store.database}.visitor_salts WHERE day = {{d:Date}}", parameters={"d": today}
    )
    assert int(count) == 1
    other_visitor = replicas[0].visitor_hash(today, "coop", "203.0.113.10", CHROME)
    assert other_visitor != results[0]
    assert replicas[0].visitor_hash(today - timedelta(days=5), "coop", "203.0.113.9", CHROME) == ""
