-- Usage rollups for the dashboards (issue 15): one aggregating table per question a dashboard asks,
-- each filled by a materialized view from usage_events, so that ranges of days read these small
-- tables and never the raw rows (whose retention can then be short).
--
-- Exactly once: ingest inserts an event id into usage_events once (the ledger, migration 0005,
-- acknowledges a resend without inserting it again), so each view sees each page view once.
--
-- Visitors: the visitor hash changes every day and per platform by design (a daily salt), so a
-- visitor count is kept per day and platform as a mergeable uniqExact state; a figure over several
-- days is the sum of the daily uniques, and the dashboards label it so. The states hold hashes of
-- those daily hashes: nothing that names a person, an account or an address. Bots are left out.
--
-- No TTL: these hold no personal data (see ccaudit.store.tables) and outlive the raw rows.
CREATE TABLE IF NOT EXISTS ${db}.usage_daily ${on_cluster}
(
    day        Date,
    platform   LowCardinality(String),
    page_views SimpleAggregateFunction(sum, UInt64),
    visitors   AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(day)
ORDER BY (platform, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_daily_mv ${on_cluster} TO ${db}.usage_daily AS
SELECT toDate(event_time) AS day, platform, toUInt64(count()) AS page_views, uniqExactState(visitor_hash) AS visitors
FROM ${db}.usage_events WHERE NOT is_bot GROUP BY day, platform;

CREATE TABLE IF NOT EXISTS ${db}.usage_pages_daily ${on_cluster}
(
    day        Date,
    platform   LowCardinality(String),
    page       String,
    page_views SimpleAggregateFunction(sum, UInt64),
    visitors   AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(day)
ORDER BY (platform, day, page);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_pages_daily_mv ${on_cluster} TO ${db}.usage_pages_daily AS
SELECT toDate(event_time) AS day, platform, page, toUInt64(count()) AS page_views,
       uniqExactState(visitor_hash) AS visitors
FROM ${db}.usage_events WHERE NOT is_bot GROUP BY day, platform, page;

CREATE TABLE IF NOT EXISTS ${db}.usage_devices_daily ${on_cluster}
(
    day        Date,
    platform   LowCardinality(String),
    browser    LowCardinality(String),
    os         LowCardinality(String),
    device     LowCardinality(String),
    page_views SimpleAggregateFunction(sum, UInt64),
    visitors   AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(day)
ORDER BY (platform, day, browser, os, device);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_devices_daily_mv ${on_cluster} TO ${db}.usage_devices_daily AS
SELECT toDate(event_time) AS day, platform, browser, os, device, toUInt64(count()) AS page_views,
       uniqExactState(visitor_hash) AS visitors
FROM ${db}.usage_events WHERE NOT is_bot GROUP BY day, platform, browser, os, device;

CREATE TABLE IF NOT EXISTS ${db}.usage_countries_daily ${on_cluster}
(
    day        Date,
    platform   LowCardinality(String),
    country    LowCardinality(String),
    page_views SimpleAggregateFunction(sum, UInt64),
    visitors   AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(day)
ORDER BY (platform, day, country);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_countries_daily_mv ${on_cluster} TO ${db}.usage_countries_daily AS
SELECT toDate(event_time) AS day, platform, country, toUInt64(count()) AS page_views,
       uniqExactState(visitor_hash) AS visitors
FROM ${db}.usage_events WHERE NOT is_bot GROUP BY day, platform, country;

CREATE TABLE IF NOT EXISTS ${db}.usage_referrers_daily ${on_cluster}
(
    day           Date,
    platform      LowCardinality(String),
    referrer_host String,
    page_views    SimpleAggregateFunction(sum, UInt64),
    visitors      AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(day)
ORDER BY (platform, day, referrer_host);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_referrers_daily_mv ${on_cluster} TO ${db}.usage_referrers_daily AS
SELECT toDate(event_time) AS day, platform, referrer_host, toUInt64(count()) AS page_views,
       uniqExactState(visitor_hash) AS visitors
FROM ${db}.usage_events WHERE NOT is_bot GROUP BY day, platform, referrer_host;

-- "Now": the last minutes, per minute and page; kept two days (the live dashboard reads 5 minutes).
CREATE TABLE IF NOT EXISTS ${db}.usage_minutes ${on_cluster}
(
    minute     DateTime('UTC'),
    platform   LowCardinality(String),
    page       String,
    page_views SimpleAggregateFunction(sum, UInt64),
    visitors   AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
ORDER BY (platform, minute, page)
TTL minute + toIntervalDay(2);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_minutes_mv ${on_cluster} TO ${db}.usage_minutes AS
SELECT toStartOfMinute(toDateTime(event_time, 'UTC')) AS minute, platform, page, toUInt64(count()) AS page_views,
       uniqExactState(visitor_hash) AS visitors
FROM ${db}.usage_events WHERE NOT is_bot GROUP BY minute, platform, page;
