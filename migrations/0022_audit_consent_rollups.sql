-- Admin activity and consent rollups for the dashboards (issue 15), filled by materialized views.
--
-- audit_daily: operations per day × platform × organisation × admin or user operation × action ×
-- outcome. Counts only: no actor, subject, IP or route, so no person is in it.
-- consent_daily: receipts per day × platform × action × method, and per category answered. Each
-- receipt adds one row with an empty category (the receipt itself) and one per category it accepted
-- or rejected; no consent id, no account id.
--
-- Exactly once as for the usage rollups: ingest stores an event id once (the ledger, migration 0005).
CREATE TABLE IF NOT EXISTS ${db}.audit_daily ${on_cluster}
(
    day             Date,
    platform        LowCardinality(String),
    organisation    String,
    admin_operation Bool,
    action          LowCardinality(String),
    outcome         LowCardinality(String),
    operations      UInt64
)
ENGINE = SummingMergeTree(operations)
PARTITION BY toYear(day)
ORDER BY (platform, day, organisation, admin_operation, action, outcome);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.audit_daily_mv ${on_cluster} TO ${db}.audit_daily AS
SELECT toDate(event_time) AS day, platform, organisation, admin_operation, action, toString(outcome) AS outcome,
       toUInt64(count()) AS operations
FROM ${db}.audit_events GROUP BY day, platform, organisation, admin_operation, action, outcome;

CREATE TABLE IF NOT EXISTS ${db}.consent_daily ${on_cluster}
(
    day      Date,
    platform LowCardinality(String),
    action   LowCardinality(String),
    method   LowCardinality(String),
    category LowCardinality(String),
    decision LowCardinality(String),
    receipts UInt64
)
ENGINE = SummingMergeTree(receipts)
PARTITION BY toYear(day)
ORDER BY (platform, day, action, method, category, decision);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.consent_daily_mv ${on_cluster} TO ${db}.consent_daily AS
SELECT toDate(event_time) AS day, platform, toString(action) AS action, toString(method) AS method,
       answer.1 AS category, answer.2 AS decision, toUInt64(count()) AS receipts
FROM ${db}.consent_receipts
ARRAY JOIN arrayConcat([('', '')], arrayMap(c -> (toString(c), 'accepted'), categories_accepted),
                       arrayMap(c -> (toString(c), 'rejected'), categories_rejected)) AS answer
GROUP BY day, platform, action, method, category, decision;
