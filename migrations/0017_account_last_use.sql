-- Retention by last use (R9): the last use of each account per platform, kept by the engine, and
-- legal holds that suspend both the retention job and the rows' TTLs (see docs/rights.md).
--
-- account_last_use: an AggregatingMergeTree whose last_use is max(event_time). A materialized view
-- adds every audit event with an actor (logins are audit events of their actor) in the same insert;
-- max is order-independent, so an event that arrives late moves the last use as soon as it is stored,
-- and a redelivery changes nothing. Read with max(last_use) ... GROUP BY: parts merge in the
-- background. Learning events join by a view of their own into the same table.
CREATE TABLE IF NOT EXISTS ${db}.account_last_use ${on_cluster}
(
    platform   LowCardinality(String),
    account_id String,
    last_use   SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (platform, account_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.account_last_use_audit ${on_cluster} TO ${db}.account_last_use AS
SELECT platform, actor_account_id AS account_id, max(event_time) AS last_use
FROM ${db}.audit_events
WHERE actor_account_id != ''
GROUP BY platform, account_id;

INSERT INTO ${db}.account_last_use
SELECT platform, actor_account_id, max(event_time) FROM ${db}.audit_events
WHERE actor_account_id != '' GROUP BY platform, actor_account_id;

-- Accounts a platform closed or deactivated (ccaudit.record_account: an audit event with
-- resource_type 'account' and action account.closed or account.deactivated); the retention job
-- erases them at once or after the register's grace.
CREATE TABLE IF NOT EXISTS ${db}.account_closures ${on_cluster}
(
    platform   LowCardinality(String),
    account_id String,
    closed_at  SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (platform, account_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.account_closures_audit ${on_cluster} TO ${db}.account_closures AS
SELECT platform, resource_id AS account_id, max(event_time) AS closed_at
FROM ${db}.audit_events
WHERE resource_type = 'account' AND action IN ('account.closed', 'account.deactivated') AND resource_id != ''
GROUP BY platform, account_id;

-- Legal holds: one row version per change (placed, lifted). A held account is skipped by the
-- retention job and by erasure, and its rows' retention_days are raised to ccaudit.rights.holds.HELD_DAYS
-- so that no TTL deletes them; lifting the hold gives them the register's retention again.
CREATE TABLE IF NOT EXISTS ${db}.legal_holds ${on_cluster}
(
    platform   LowCardinality(String),
    account_id String,
    reason     String,
    placed_by  String,
    placed_at  DateTime64(3, 'UTC'),
    active     Bool,
    version    UInt64
)
ENGINE = ${replacing_merge_tree}(version)
ORDER BY (platform, account_id);
