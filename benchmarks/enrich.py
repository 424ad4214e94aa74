"""User-agent enrichment at ingest: per new user agent and cached, beside user-agents' own parse.

user-agents' ``parse()`` goes through ua-parser's legacy interface, which never uses the Rust
accelerator; ccaudit parses with ua-parser 1.0's API (accelerated) and hands the result to
user-agents' classification. Prints µs per call for each, and the ratio. Goal: ≤ 25 µs per new user
agent, ≤ 2 µs cached.  Usage: python benchmarks/enrich.py [--agents N]
"""

from __future__ import annotations

import argparse
import time

import user_agents

from ccaudit.ingest.enrich import UserAgentEnricher

TEMPLATES = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.{b}.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{b} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.{b}",
    "Mozilla/5.0 (Linux; Android 14; SM-X{b}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.{v}; +http://www.google.com/bot.html) b{b}",
]


def agents(n: int, salt: int) -> list[str]:
    return [TEMPLATES[i % len(TEMPLATES)].format(v=100 + i % 40, b=salt * 100_000 + i) for i in range(n)]


def per_call_us(func: object, items: list[str]) -> float:
    start = time.perf_counter()
    for item in items:
        func(item)  # type: ignore[operator]
    return (time.perf_counter() - start) / len(items) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=2000)
    args = parser.parse_args()
    enricher = UserAgentEnricher(cache_size=args.agents * 2)
    per_call_us(enricher, agents(50, 99))  # warm-up: regex compilation, imports
    per_call_us(user_agents.parse, agents(20, 98))
    new = per_call_us(enricher, agents(args.agents, 1))
    cached = per_call_us(enricher, agents(args.agents, 1))
    legacy = per_call_us(user_agents.parse, agents(max(200, args.agents // 10), 2))
    print(f"user agents: {args.agents} distinct, five families in turn")
    for number, template in enumerate(TEMPLATES):
        family = [template.format(v=100 + i % 40, b=(10 + number) * 100_000 + i) for i in range(300)]
        print(f"  new, {template[13:45]:32} {per_call_us(enricher, family):8.1f} µs")
    print(f"ccaudit enrichment, new user agent:    {new:8.1f} µs  (goal ≤ 25)")
    print(f"ccaudit enrichment, cached:            {cached:8.2f} µs  (goal ≤ 2)")
    print(f"user-agents' own parse (legacy path):  {legacy:8.1f} µs")
    print(f"ratio enrich={new / legacy:.3f}")


if __name__ == "__main__":
    main()
