-- Consent receipts (R3, GDPR art. 7(1)): one row per consent given, changed or withdrawn, from the
-- banner or from a platform's own consent manager through the context API.
--
-- A receipt names the visitor only by a pseudonymous consent id (a UUID the banner keeps in its
-- cookie) and, when the visitor was logged in, the account id. No IP address, no user agent.
--
-- ReplacingMergeTree keyed on a sorting key that ends in event_id, as for the other streams: a
-- redelivered receipt collapses into one row; reads use FINAL. ORDER BY (consent_id, event_time,
-- event_id) serves the one question asked of this table: the history of one consent, oldest first.
-- A bloom-filter index on account_id lets subject requests find a person's receipts.
--
-- retention_days is set per row at ingest (stream "consent", default 5 years: the proof has to
-- outlive the consent it proves) and drives the TTL.
CREATE TABLE IF NOT EXISTS ${db}.consent_receipts ${on_cluster}
(
    event_id            UUID,
    event_time          DateTime64(3, 'UTC'),
    received_at         DateTime64(3, 'UTC'),
    platform            LowCardinality(String),
    consent_id          String,
    account_id          String,
    categories_accepted Array(LowCardinality(String)),
    categories_rejected Array(LowCardinality(String)),
    services_accepted   Array(String),
    services_rejected   Array(String),
    method              Enum8('banner' = 1, 'api' = 2),
    action              Enum8('accept_all' = 1, 'custom' = 2, 'reject_all' = 3, 'withdraw' = 4),
    policy_revision     UInt32,
    banner_text_sha256  String,
    language            LowCardinality(String),
    gpc                 Bool,
    dnt                 Bool,
    retention_days      UInt16,
    INDEX idx_account account_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ${replacing_merge_tree}
PARTITION BY toYYYYMM(event_time)
ORDER BY (consent_id, event_time, event_id)
TTL toDateTime(event_time) + toIntervalDay(retention_days)
SETTINGS index_granularity = 8192;
