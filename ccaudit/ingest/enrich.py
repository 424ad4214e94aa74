"""User-agent enrichment at ingest: browser family and major version, OS, device class, bot flag.

Classification is user-agents' (its device/bot rules are the ones people know), but the parse is
ua-parser 1.0's Rust accelerator (``ua-parser-rs``): user-agents' own ``parse()`` goes through
ua-parser's legacy interface and never uses it (~30x slower per new UA). We call the accelerator's
three extractors directly, skipping ua-parser's own result objects and its cache (we keep one of
our own), and hand the result to user-agents' ``UserAgent`` without letting it parse again.
Results are cached by UA string in a bounded LRU. This never runs on the request path.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

from ua_parser import load_lazy_builtins
from ua_parser.regex import Resolver
from user_agents.parsers import (
    UserAgent,
    parse_browser,
    parse_device,
    parse_operating_system,
)

_MAX_UA = 1024


@dataclass(frozen=True, slots=True)
class UserAgentInfo:
    browser: str
    browser_version: str
    os: str
    device: str  # desktop, mobile, tablet, bot or other
    is_bot: bool


UNKNOWN = UserAgentInfo("Other", "", "Other", "other", False)


@cache
def _extractors() -> Resolver:
    # Compiling the regex sets takes a while: once per process, on first use.
    return Resolver(load_lazy_builtins())


def _classify(ua: str) -> UserAgentInfo:
    if not ua:
        return UNKNOWN
    rust = _extractors()
    b, o, d = rust.ua.extract(ua), rust.os.extract(ua), rust.de.extract(ua)
    agent = UserAgent.__new__(UserAgent)
    agent.ua_string = ua
    agent.browser = parse_browser(b.family, b.major, b.minor, b.patch) if b else parse_browser("Other")
    agent.os = parse_operating_system(o.family, o.major, o.minor, o.patch) if o else parse_operating_system("Other")
    agent.device = parse_device(d.family, d.brand, d.model) if d else parse_device("Other", None, None)
    is_bot = bool(agent.is_bot)
    if is_bot:
        device = "bot"
    elif agent.is_tablet:
        device = "tablet"
    elif agent.is_mobile:
        device = "mobile"
    elif agent.is_pc:
        device = "desktop"
    else:
        device = "other"
    return UserAgentInfo(
        browser=agent.browser.family or "Other",
        browser_version=(b.major or "") if b else "",
        os=agent.os.family or "Other",
        device=device,
        is_bot=is_bot,
    )


class UserAgentEnricher:
    """Bounded-cache UA classification. One per ingest pipeline; safe across threads."""

    def __init__(self, cache_size: int = 20_000) -> None:
        self.classify = lru_cache(maxsize=cache_size)(_classify)

    def __call__(self, ua: str) -> UserAgentInfo:
        try:
            return self.classify(ua[:_MAX_UA])
        except Exception:  # a pathological string must not fail a whole batch
            return UNKNOWN
