-- The audit trail (R1, R5, R6): one row per audited operation, admins' and users' alike.
--
-- Engine: ReplacingMergeTree keyed on the sorting key, which ends in event_id. event_id is made at
-- capture and event_time, platform and organisation are fixed there too, so a redelivered event has
-- the same key and collapses into one row however it was batched; reads use FINAL (see the README).
--
-- ORDER BY (platform, organisation, event_time, event_id): dashboards and most searches are "this
-- platform (and organisation), this time range", which this key serves by range. Auditors' per-person
-- questions (actor, subject, request/trace id) cut across time: bloom-filter skip indexes let them
-- skip granules rather than scan, without a second copy of the data that a projection would be
-- (and that erasure would have to reach as well).
--
-- retention_days is set per row at ingest from configuration (per platform and stream) and drives
-- the TTL, so one table serves platforms with different retention.
CREATE TABLE IF NOT EXISTS ${db}.audit_events ${on_cluster}
(
    event_id          UUID,
    event_time        DateTime64(3, 'UTC'),
    received_at       DateTime64(3, 'UTC'),
    platform          LowCardinality(String),
    organisation      String,
    actor_account_id  String,
    actor_profile_id  String,
    actor_role        LowCardinality(String),
    admin_operation   Bool,
    subject_id        String,
    action            LowCardinality(String),
    route             String,
    resource_type     LowCardinality(String),
    resource_id       String,
    method            LowCardinality(String),
    status            UInt16,
    outcome           Enum8('success' = 1, 'denied' = 2, 'failed' = 3, 'error' = 4, 'aborted' = 5),
    duration_ms       Float64,
    client_ip         String,
    peer_ip           String,
    user_agent        String,
    browser           LowCardinality(String),
    browser_version   LowCardinality(String),
    os                LowCardinality(String),
    device            LowCardinality(String),
    is_bot            Bool,
    request_id        String,
    trace_id          String,
    span_id           String,
    details           Map(String, String),
    retention_days    UInt16,
    INDEX idx_actor_account actor_account_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_actor_profile actor_profile_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_subject       subject_id       TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_request       request_id       TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_trace         trace_id         TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ${replacing_merge_tree}
PARTITION BY toYYYYMM(event_time)
ORDER BY (platform, organisation, event_time, event_id)
TTL toDateTime(event_time) + toIntervalDay(retention_days)
SETTINGS index_granularity = 8192;
