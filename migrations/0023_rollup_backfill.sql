-- The rollups of migrations 0021 and 0022 over the rows stored before them. Each target is emptied
-- first, so a run interrupted half-way can be repeated without counting a row twice. Run while no
-- ingest writes (`ccaudit serve` migrates before it serves; on a server, migrate with ingest paused):
-- a row inserted between the views' creation and this refill would be counted by both.
TRUNCATE TABLE IF EXISTS ${db}.usage_daily ${on_cluster};
INSERT INTO ${db}.usage_daily
SELECT toDate(event_time) AS day, platform, toUInt64(count()), uniqExactState(visitor_hash)
FROM ${db}.usage_events FINAL WHERE NOT is_bot GROUP BY day, platform;
TRUNCATE TABLE IF EXISTS ${db}.usage_pages_daily ${on_cluster};
INSERT INTO ${db}.usage_pages_daily
SELECT toDate(event_time) AS day, platform, page, toUInt64(count()), uniqExactState(visitor_hash)
FROM ${db}.usage_events FINAL WHERE NOT is_bot GROUP BY day, platform, page;
TRUNCATE TABLE IF EXISTS ${db}.usage_devices_daily ${on_cluster};
INSERT INTO ${db}.usage_devices_daily
SELECT toDate(event_time) AS day, platform, browser, os, device, toUInt64(count()), uniqExactState(visitor_hash)
FROM ${db}.usage_events FINAL WHERE NOT is_bot GROUP BY day, platform, browser, os, device;
TRUNCATE TABLE IF EXISTS ${db}.usage_countries_daily ${on_cluster};
INSERT INTO ${db}.usage_countries_daily
SELECT toDate(event_time) AS day, platform, country, toUInt64(count()), uniqExactState(visitor_hash)
FROM ${db}.usage_events FINAL WHERE NOT is_bot GROUP BY day, platform, country;
TRUNCATE TABLE IF EXISTS ${db}.usage_referrers_daily ${on_cluster};
INSERT INTO ${db}.usage_referrers_daily
SELECT toDate(event_time) AS day, platform, referrer_host, toUInt64(count()), uniqExactState(visitor_hash)
FROM ${db}.usage_events FINAL WHERE NOT is_bot GROUP BY day, platform, referrer_host;
TRUNCATE TABLE IF EXISTS ${db}.usage_minutes ${on_cluster};
INSERT INTO ${db}.usage_minutes
SELECT toStartOfMinute(toDateTime(event_time, 'UTC')) AS minute, platform, page, toUInt64(count()),
       uniqExactState(visitor_hash)
FROM ${db}.usage_events FINAL WHERE NOT is_bot AND event_time >= now() - toIntervalDay(2)
GROUP BY minute, platform, page;
TRUNCATE TABLE IF EXISTS ${db}.audit_daily ${on_cluster};
INSERT INTO ${db}.audit_daily
SELECT toDate(event_time) AS day, platform, organisation, admin_operation, action, toString(outcome) AS o,
       toUInt64(count())
FROM ${db}.audit_events FINAL GROUP BY day, platform, organisation, admin_operation, action, o;
TRUNCATE TABLE IF EXISTS ${db}.consent_daily ${on_cluster};
INSERT INTO ${db}.consent_daily
SELECT toDate(event_time) AS day, platform, toString(action) AS a, toString(method) AS m,
       answer.1 AS category, answer.2 AS decision, toUInt64(count())
FROM ${db}.consent_receipts FINAL
ARRAY JOIN arrayConcat([('', '')], arrayMap(c -> (toString(c), 'accepted'), categories_accepted),
                       arrayMap(c -> (toString(c), 'rejected'), categories_rejected)) AS answer
GROUP BY day, platform, a, m, category, decision;
