-- Anonymous usage analytics (R2, R3): one row per page view, recorded only with analytics consent.
--
-- No IP, no account id, no user-agent string: ingest derives browser, OS, device class, bot flag,
-- country and the day's visitor hash, then drops what it derived them from. visitor_hash is a keyed
-- hash under a random salt of the event's UTC day; the salt is deleted two days later, after which
-- no hash can be linked to a visitor or to another day's hash.
--
-- ReplacingMergeTree keyed on a sorting key that ends in event_id, as for the audit trail: a
-- redelivered page view collapses into one row; reads use FINAL. ORDER BY serves the dashboards:
-- one platform, a range of days, grouped by day and then by page or browser.
CREATE TABLE IF NOT EXISTS ${db}.usage_events ${on_cluster}
(
    event_id        UUID,
    event_time      DateTime64(3, 'UTC'),
    received_at     DateTime64(3, 'UTC'),
    platform        LowCardinality(String),
    page            String,
    admin_area      Bool,
    referrer_host   String,
    browser         LowCardinality(String),
    browser_version LowCardinality(String),
    os              LowCardinality(String),
    device          LowCardinality(String),
    is_bot          Bool,
    country         LowCardinality(String),
    visitor_hash    String,
    retention_days  UInt16
)
ENGINE = ${replacing_merge_tree}
PARTITION BY toYYYYMM(event_time)
ORDER BY (platform, toDate(event_time), event_time, event_id)
TTL toDateTime(event_time) + toIntervalDay(retention_days)
SETTINGS index_granularity = 8192;

-- One random salt per UTC day, shared by every service replica. The first insert of a day wins:
-- every replica inserts its candidate with the same insert_deduplication_token, so later candidates
-- are dropped (the deduplication window below makes that work on a non-replicated table too) and all
-- read back the same salt. The service deletes salts two days after their day; the TTL is a backstop.
CREATE TABLE IF NOT EXISTS ${db}.visitor_salts ${on_cluster}
(
    day        Date,
    salt       String,
    created_at DateTime64(3, 'UTC')
)
ENGINE = ${merge_tree}
ORDER BY day
TTL day + toIntervalDay(2)
SETTINGS non_replicated_deduplication_window = 1000;
