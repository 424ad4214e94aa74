-- Closed days of the usage rollups (issue 15): each finished day's visitor counts, kept as numbers.
--
-- Why: a visitor figure over a range is the sum of daily uniques, so each day's unique count is
-- final once the day's events are in. Reading it from the rollups' uniqExact states means
-- deserialising every visitor hash of the range at each query (seconds over two years at 100M page
-- views); reading a number per day and value costs nothing. The states stay the truth and are kept.
--
-- How: per rollup, a refreshable materialized view (the engine runs it by itself every 5 minutes)
-- appends the final counts of every finished day (day < today()) whose counts are not closed yet or
-- have changed since (a late event) to usage_closed, one row per question ('visits', 'page',
-- 'browser', 'os', 'device', 'country', 'referrer'), day, platform and value. A day's figures only
-- grow, so the table keeps the max of each figure: a refresh repeated, replayed on another replica or
-- interrupted half-way never counts anything twice.
--
-- Reading: one view per question (usage_visits, usage_pages, usage_browsers, usage_systems,
-- usage_devices, usage_countries, usage_referrers) gives one row per day, platform and value with
-- plain visitors and page_views. A (platform, day) is read from usage_closed when its closed page
-- views add up to the rollup's, and from the states otherwise (today, yesterday until the next
-- refresh, a day a late event reopened). Each closed row's figures never exceed the true ones, so
-- equal sums mean every row is complete: the views are exact at any moment, whatever the refresh did.
CREATE TABLE IF NOT EXISTS ${db}.usage_closed ${on_cluster}
(
    question   LowCardinality(String),
    platform   LowCardinality(String),
    day        Date,
    value      String,
    page_views SimpleAggregateFunction(max, UInt64),
    visitors   SimpleAggregateFunction(max, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(day)
ORDER BY (question, platform, day, value);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_daily_close ${on_cluster}
REFRESH EVERY 5 MINUTE APPEND TO ${db}.usage_closed AS
SELECT 'visits' AS question, platform, day, '' AS value, toUInt64(sum(page_views)) AS page_views,
       toUInt64(uniqExactMerge(visitors)) AS visitors
FROM ${db}.usage_daily
WHERE day < today() AND (platform, day) IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'visits'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY platform, day;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_pages_close ${on_cluster}
REFRESH EVERY 5 MINUTE APPEND TO ${db}.usage_closed AS
SELECT 'page' AS question, platform, day, page AS value, toUInt64(sum(page_views)) AS page_views,
       toUInt64(uniqExactMerge(visitors)) AS visitors
FROM ${db}.usage_pages_daily
WHERE day < today() AND (platform, day) IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_pages_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'page'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY platform, day, page;

-- One rollup, three questions: a state row counts once under each of browser, os and device.
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_devices_close ${on_cluster}
REFRESH EVERY 5 MINUTE APPEND TO ${db}.usage_closed AS
SELECT question, platform, day, value, toUInt64(sum(page_views)) AS page_views,
       toUInt64(uniqExactMerge(visitors)) AS visitors
FROM ${db}.usage_devices_daily
ARRAY JOIN ['browser', 'os', 'device'] AS question, [browser, os, device] AS value
WHERE day < today() AND (platform, day) IN (
    SELECT platform, day FROM (
        SELECT platform, day, q, toInt64(sum(page_views)) AS pv FROM ${db}.usage_devices_daily
        ARRAY JOIN ['browser', 'os', 'device'] AS q GROUP BY platform, day, q
        UNION ALL
        SELECT platform, day, question AS q, -toInt64(max(page_views)) FROM ${db}.usage_closed
        WHERE question IN ('browser', 'os', 'device') GROUP BY platform, day, question, value)
    GROUP BY platform, day, q HAVING sum(pv) != 0)
GROUP BY question, platform, day, value;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_countries_close ${on_cluster}
REFRESH EVERY 5 MINUTE APPEND TO ${db}.usage_closed AS
SELECT 'country' AS question, platform, day, country AS value, toUInt64(sum(page_views)) AS page_views,
       toUInt64(uniqExactMerge(visitors)) AS visitors
FROM ${db}.usage_countries_daily
WHERE day < today() AND (platform, day) IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_countries_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'country'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY platform, day, country;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_referrers_close ${on_cluster}
REFRESH EVERY 5 MINUTE APPEND TO ${db}.usage_closed AS
SELECT 'referrer' AS question, platform, day, referrer_host AS value, toUInt64(sum(page_views)) AS page_views,
       toUInt64(uniqExactMerge(visitors)) AS visitors
FROM ${db}.usage_referrers_daily
WHERE day < today() AND (platform, day) IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_referrers_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'referrer'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY platform, day, referrer_host;

-- The views the dashboards read: one row per day, platform and value, closed or not (see above).
CREATE VIEW IF NOT EXISTS ${db}.usage_visits ${on_cluster} AS
SELECT day, platform, max(visitors) AS visitors, max(page_views) AS page_views
FROM ${db}.usage_closed
WHERE question = 'visits' AND (platform, day) NOT IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'visits'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY day, platform
UNION ALL
SELECT day, platform, toUInt64(uniqExactMerge(visitors)) AS visitors, toUInt64(sum(page_views)) AS page_views
FROM ${db}.usage_daily
WHERE (platform, day) IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'visits'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY day, platform;

CREATE VIEW IF NOT EXISTS ${db}.usage_pages ${on_cluster} AS
SELECT day, platform, value AS page, max(visitors) AS visitors, max(page_views) AS page_views
FROM ${db}.usage_closed
WHERE question = 'page' AND (platform, day) NOT IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_pages_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'page'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY day, platform, value
UNION ALL
SELECT day, platform, page, toUInt64(uniqExactMerge(visitors)) AS visitors, toUInt64(sum(page_views)) AS page_views
FROM ${db}.usage_pages_daily
WHERE (platform, day) IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_pages_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'page'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY day, platform, page;

CREATE VIEW IF NOT EXISTS ${db}.usage_browsers ${on_cluster} AS
SELECT day, platform, value AS browser, max(visitors) AS visitors, max(page_views) AS page_views
FROM ${db}.usage_closed
WHERE question = 'browser' AND (platform, day) NOT IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_devices_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'browser'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY day, platform, value
UNION ALL
SELECT day, platform, browser, toUInt64(uniqExactMerge(visitors)) AS visitors, toUInt64(sum(page_views)) AS page_views
FROM ${db}.usage_devices_daily
WHERE (platform, day) IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_devices_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'browser'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY day, platform, browser;

CREATE VIEW IF NOT EXISTS ${db}.usage_systems ${on_cluster} AS
SELECT day, platform, value AS os, max(visitors) AS visitors, max(page_views) AS page_views
FROM ${db}.usage_closed
WHERE question = 'os' AND (platform, day) NOT IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_devices_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'os'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY day, platform, value
UNION ALL
SELECT day, platform, os, toUInt64(uniqExactMerge(visitors)) AS visitors, toUInt64(sum(page_views)) AS page_views
FROM ${db}.usage_devices_daily
WHERE (platform, day) IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_devices_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'os'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY day, platform, os;

CREATE VIEW IF NOT EXISTS ${db}.usage_devices ${on_cluster} AS
SELECT day, platform, value AS device, max(visitors) AS visitors, max(page_views) AS page_views
FROM ${db}.usage_closed
WHERE question = 'device' AND (platform, day) NOT IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_devices_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'device'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY day, platform, value
UNION ALL
SELECT day, platform, device, toUInt64(uniqExactMerge(visitors)) AS visitors, toUInt64(sum(page_views)) AS page_views
FROM ${db}.usage_devices_daily
WHERE (platform, day) IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_devices_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'device'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY day, platform, device;

CREATE VIEW IF NOT EXISTS ${db}.usage_countries ${on_cluster} AS
SELECT day, platform, value AS country, max(visitors) AS visitors, max(page_views) AS page_views
FROM ${db}.usage_closed
WHERE question = 'country' AND (platform, day) NOT IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_countries_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'country'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY day, platform, value
UNION ALL
SELECT day, platform, country, toUInt64(uniqExactMerge(visitors)) AS visitors, toUInt64(sum(page_views)) AS page_views
FROM ${db}.usage_countries_daily
WHERE (platform, day) IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_countries_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'country'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY day, platform, country;

CREATE VIEW IF NOT EXISTS ${db}.usage_referrers ${on_cluster} AS
SELECT day, platform, value AS referrer_host, max(visitors) AS visitors, max(page_views) AS page_views
FROM ${db}.usage_closed
WHERE question = 'referrer' AND (platform, day) NOT IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_referrers_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'referrer'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY day, platform, value
UNION ALL
SELECT day, platform, referrer_host, toUInt64(uniqExactMerge(visitors)) AS visitors, toUInt64(sum(page_views)) AS page_views
FROM ${db}.usage_referrers_daily
WHERE (platform, day) IN (
    SELECT platform, day FROM (
        SELECT platform, day, toInt64(sum(page_views)) AS pv FROM ${db}.usage_referrers_daily GROUP BY platform, day
        UNION ALL
        SELECT platform, day, -toInt64(max(page_views)) FROM ${db}.usage_closed WHERE question = 'referrer'
        GROUP BY platform, day, value)
    GROUP BY platform, day HAVING sum(pv) != 0)
GROUP BY day, platform, referrer_host;
