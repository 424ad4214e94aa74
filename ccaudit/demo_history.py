"""The demo's history, so that ``make run`` opens on dashboards with something to show.

``make run`` drives live traffic at its platforms, but a dashboard of the last 30 days or 12 months
needs days that have passed. Before the service starts, the launcher runs ``python -m
ccaudit.demo_history``, which writes, with dates relative to today (UTC):

- page views on the three demo platforms for the last ``days`` days (and a few in the last minutes,
  for the "now" dashboard): pages, referrers, browsers, OS, devices and countries drawn from fixed
  weights, a few crawlers, a weekly rhythm and slow growth; each simulated visitor gets one random
  visitor hash per day, as the daily salt gives a real one, and enough of them that cells pass the
  small-cell threshold;
- admin operations per organisation (successes, some denials and failures), consent receipts of
  every kind (accept all, custom, reject all, withdraw) and learners' steps in two modules, for the
  last ``days_personal`` days.

Audit, consent and learning events go through the ingest pipeline as any platform's batch would.
Page views are written to the store directly: the pipeline gives a past day no visitor hash (its
salt is gone, by design), and derives the country from an IP address only with a GeoIP database,
which the demo does not have. Everything is drawn from a seeded generator: the same ``seed`` on the
same day writes the same rows.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ccaudit.ingest import Ingestor
from ccaudit.ingest.pipeline import epoch_ms
from ccaudit.settings import Settings, load_settings
from ccaudit.store import Store
from ccaudit.store.usage import COLUMNS as USAGE_COLUMNS

# platform → its public pages with their weights, and its visitors on an ordinary weekday
PAGES: dict[str, tuple[tuple[str, int], ...]] = {
    "coop": (("/", 40), ("/about", 12), ("/posts", 25), ("/agenda", 10), ("/contact", 6), ("/help", 7)),
    "learning": (("/", 30), ("/modules", 35), ("/modules/privacy-101", 20), ("/help", 8), ("/about", 7)),
    "library": (("/", 35), ("/books", 40), ("/events", 12), ("/opening-hours", 9), ("/about", 4)),
}
VISITORS = {"coop": 60, "learning": 40, "library": 30}
REFERRERS = (("", 45), ("www.google.com", 22), ("duckduckgo.com", 8), ("www.example.org", 10),
             ("nieuws.example.nl", 8), ("www.bing.com", 4), ("mastodon.social", 3))  # fmt: skip
# (browser, version, os, device), weight
AGENTS = (
    (("Chrome", "131", "Windows", "desktop"), 30), (("Edge", "131", "Windows", "desktop"), 10),
    (("Firefox", "133", "Linux", "desktop"), 8), (("Safari", "18", "Mac OS X", "desktop"), 12),
    (("Mobile Safari", "18", "iOS", "mobile"), 18), (("Chrome Mobile", "131", "Android", "mobile"), 16),
    (("Mobile Safari", "18", "iOS", "tablet"), 6),
)  # fmt: skip
COUNTRIES = (("NL", 55), ("BE", 20), ("DE", 8), ("FR", 7), ("GB", 4), ("LU", 3), ("US", 3))
CRAWLER = ("Googlebot", "2", "Other", "bot")
# platform → organisations with their admins' activity per day
ORGANISATIONS = {"coop": ("gemeente-a", "gemeente-b"), "learning": ("gemeente-a", "hogeschool-c"),
                 "library": ("bibliotheek-noord",)}  # fmt: skip
ACTIONS = (("person.read", 40), ("person.update", 20), ("person.create", 8), ("login", 20), ("role.grant", 4),
           ("export.create", 3), ("person.delete", 2))  # fmt: skip
OUTCOMES = (("success", 88), ("denied", 6), ("failed", 5), ("error", 1))
CONSENT_ACTIONS = (("accept_all", 50), ("custom", 20), ("reject_all", 25), ("withdraw", 5))
MODULES = {"privacy-101": ("intro", "basics", "quiz"), "privacy-201": ("rights", "cases")}
PROFESSIONS = (("employee", 5), ("student", 3), ("teacher", 2))
BATCH = 5000


_TABLES: dict[tuple[tuple[Any, int], ...], tuple[list[Any], list[int]]] = {}


def _pick(rng: random.Random, weighted: Sequence[tuple[Any, int]]) -> Any:
    # Values and cumulative weights once per table: the demo draws a few hundred thousand times.
    table = _TABLES.get(tuple(weighted))
    if table is None:
        values, total, cumulative = [v for v, _ in weighted], 0, []
        for _, weight in weighted:
            total += weight
            cumulative.append(total)
        table = _TABLES[tuple(weighted)] = (values, cumulative)
    return rng.choices(table[0], cum_weights=table[1])[0]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _moment(rng: random.Random, day: date, now: datetime) -> datetime:
    """A time of ``day`` weighted towards office hours, never after ``now``."""
    hour = min(23, max(0, int(rng.gauss(13, 4))))
    moment = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=UTC)
    return min(moment, now - timedelta(seconds=rng.randrange(60, 3600)))


def _volume(rng: random.Random, base: int, day: date, today: date) -> int:
    """Fewer visits at weekends, slow growth towards today, some noise."""
    weekend = 0.45 if day.weekday() >= 5 else 1.0
    growth = 1.0 - min((today - day).days, 730) / 1460
    return max(0, round(base * weekend * growth * rng.uniform(0.8, 1.2)))


@dataclass(frozen=True, slots=True)
class Written:
    page_views: int
    audit: int
    consent: int
    learning: int


def _page_views(
    rng: random.Random, platform: str, day: date, now: datetime, visitors: int, retention: int
) -> Iterator[list[Any]]:
    """Rows of USAGE_COLUMNS for one platform's day."""
    for _ in range(visitors):
        visitor = hashlib.sha256(rng.getrandbits(256).to_bytes(32, "big")).hexdigest()
        agent = _pick(rng, AGENTS)
        country = _pick(rng, COUNTRIES)
        referrer = _pick(rng, REFERRERS)
        moment = _moment(rng, day, now)
        for view in range(rng.choice((1, 1, 2, 2, 3, 4))):
            at = min(moment + timedelta(seconds=40 * view), now)
            values = {
                "event_id": _uuid(rng), "event_time": epoch_ms(at), "received_at": epoch_ms(at), "platform": platform,
                "page": _pick(rng, PAGES[platform]), "admin_area": False,
                "referrer_host": referrer if view == 0 else "",
                "browser": agent[0], "browser_version": agent[1], "os": agent[2], "device": agent[3], "is_bot": False,
                "country": country, "visitor_hash": visitor, "retention_days": retention,
                "payload_sha256": hashlib.sha256(f"{platform}{at}{visitor}{view}".encode()).hexdigest(),
            }  # fmt: skip
            yield [values[name] for name in USAGE_COLUMNS]
    for _ in range(rng.randrange(0, 4)):  # crawlers: counted apart, never as visitors
        at = _moment(rng, day, now)
        values = {"event_id": _uuid(rng), "event_time": epoch_ms(at), "received_at": epoch_ms(at),
                  "platform": platform, "page": "/", "admin_area": False, "referrer_host": "", "browser": CRAWLER[0],
                  "browser_version": CRAWLER[1], "os": CRAWLER[2], "device": CRAWLER[3], "is_bot": True,
                  "country": "US", "visitor_hash": "", "retention_days": retention,
                  "payload_sha256": hashlib.sha256(f"bot{at}".encode()).hexdigest()}  # fmt: skip
        yield [values[name] for name in USAGE_COLUMNS]


def _insert_usage(store: Store, rows: list[list[Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        store.insert_usage([list(column) for column in zip(*chunk, strict=True)])


def _audit(rng: random.Random, organisation: str, at: datetime) -> dict[str, Any]:
    action = _pick(rng, ACTIONS)
    outcome = _pick(rng, OUTCOMES)
    status = {"success": 200, "denied": 403, "failed": 422, "error": 500}[outcome]
    admin = rng.randrange(1, 5)
    return {"stream": "audit", "event_id": _uuid(rng), "event_time": epoch_ms(at), "organisation": organisation,
            "actor_account_id": f"{organisation}-admin-{admin}", "actor_role": "admin", "admin_operation": True,
            "subject_id": f"person-{rng.randrange(1, 400)}" if action.startswith("person.") else "",
            "action": action, "resource_type": action.split(".")[0], "method": "POST", "status": status,
            "outcome": outcome, "client_ip": f"10.{rng.randrange(1, 9)}.{admin}.{rng.randrange(2, 250)}",
            "request_id": _uuid(rng)}  # fmt: skip


def _consent(rng: random.Random, at: datetime) -> dict[str, Any]:
    action = _pick(rng, CONSENT_ACTIONS)
    accepted = {"accept_all": ["necessary", "analytics", "preferences"], "custom": ["necessary", "preferences"],
                "reject_all": ["necessary"], "withdraw": ["necessary"]}[action]  # fmt: skip
    rejected = [c for c in ("analytics", "preferences") if c not in accepted]
    return {"stream": "consent", "event_id": _uuid(rng), "event_time": epoch_ms(at), "consent_id": _uuid(rng),
            "categories_accepted": accepted, "categories_rejected": rejected,
            "method": "banner" if rng.random() < 0.9 else "api", "action": action, "policy_revision": 3,
            "language": _pick(rng, (("nl", 7), ("fr", 2), ("en", 1)))}  # fmt: skip


def _learner_steps(
    rng: random.Random, learner: str, organisation: str, start: datetime, now: datetime
) -> list[dict[str, Any]]:
    """One learner's way through the modules, from ``start``: lessons in order, a quiz at the end."""
    profession = _pick(rng, PROFESSIONS)
    steps: list[dict[str, Any]] = []
    at = start
    for module, lessons in MODULES.items():
        if module == "privacy-201" and rng.random() < 0.4:
            break
        registration = _uuid(rng)
        common = {"stream": "learning", "learner": learner, "organisation": organisation, "module": module,
                  "registration": registration, "profession": profession}  # fmt: skip
        steps.append({**common, "verb": "registered"})
        for lesson in lessons:
            at += timedelta(hours=rng.randrange(2, 60))
            steps.append({**common, "lesson": lesson, "verb": "progressed", "progress": 100, "event_time": at})
            steps.append({**common, "lesson": lesson, "verb": "completed", "event_time": at})
        passed = rng.random() < 0.75
        steps.append({**common, "verb": "passed" if passed else "failed", "score": round(rng.uniform(0.6, 1.0)
                      if passed else rng.uniform(0.1, 0.55), 2), "event_time": at})  # fmt: skip
        if not passed:
            break
    kept = []
    for step in steps:
        when = step.get("event_time", start)
        if when > now:
            break
        kept.append({**step, "event_id": _uuid(rng), "event_time": epoch_ms(when)})
    return kept


def _ingest(ingestor: Ingestor, rng: random.Random, platform: str, events: list[dict[str, Any]]) -> int:
    for start in range(0, len(events), BATCH):
        ingestor.ingest({"schema_version": 1, "batch_id": _uuid(rng), "platform": platform,
                         "events": events[start : start + BATCH]})  # fmt: skip
    return len(events)


def seed(
    store: Store, settings: Settings, now: datetime, days: int = 400, days_personal: int = 120, seed: int = 15
) -> Written:
    """Write the demo's history up to ``now``; returns how many rows of each kind."""
    rng = random.Random(f"{seed}-{now.date().isoformat()}")
    today = now.date()
    rows: list[list[Any]] = []
    for back in range(days, -1, -1):
        day = today - timedelta(days=back)
        for platform, base in VISITORS.items():
            retention = settings.retention_for(platform, "usage")
            rows.extend(_page_views(rng, platform, day, now, _volume(rng, base, day, today), retention))
    # The last minutes: the "now" dashboard has something to show as soon as the demo starts.
    for platform in PAGES:
        recent = now - timedelta(minutes=4)
        for row in _page_views(rng, platform, today, now, 12, settings.retention_for(platform, "usage")):
            row[USAGE_COLUMNS.index("event_time")] = epoch_ms(recent + timedelta(seconds=rng.randrange(200)))
            rows.append(row)
    _insert_usage(store, rows)
    ingestor = Ingestor(settings, store)
    audit = consent = 0
    for platform, organisations in ORGANISATIONS.items():
        events: list[dict[str, Any]] = []
        receipts: list[dict[str, Any]] = []
        for back in range(days_personal, -1, -1):
            day = today - timedelta(days=back)
            for organisation in organisations:
                for _ in range(_volume(rng, 14, day, today)):
                    events.append(_audit(rng, organisation, _moment(rng, day, now)))
            for _ in range(_volume(rng, 12, day, today)):
                receipts.append(_consent(rng, _moment(rng, day, now)))
        audit += _ingest(ingestor, rng, platform, events)
        consent += _ingest(ingestor, rng, platform, receipts)
    steps: list[dict[str, Any]] = []
    for n in range(160):
        organisation = ("gemeente-a", "hogeschool-c")[n % 2]
        start = now - timedelta(days=rng.randrange(3, days_personal), hours=rng.randrange(24))
        steps.extend(_learner_steps(rng, f"learner-{n:03d}", organisation, start, now))
    learning = _ingest(ingestor, rng, "learning", steps)
    return Written(len(rows), audit, consent, learning)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ccaudit.demo_history", description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=400, help="days of page views before today")
    parser.add_argument("--days-personal", type=int, default=120, help="days of audit, consent and learning events")
    args = parser.parse_args(argv)
    settings = load_settings()
    store = Store.open(settings)
    written = seed(store, settings, datetime.now(UTC), args.days, args.days_personal)
    print(f"demo history: {written.page_views} page views, {written.audit} admin operations, "
          f"{written.consent} consent receipts, {written.learning} learning events", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
