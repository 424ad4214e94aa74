-- Append-only trail: one event id is one row, everywhere, from the moment it is inserted.
--
-- Each stored event carries payload_sha256: a digest of what the platform sent (its wire payload in
-- a canonical form, with the platform's name; see ccaudit.ingest.ledger). A materialized view copies
-- (event_id, platform, stream, digest) of every row inserted into a data table into event_ids, in
-- the same insert, so the ledger never lacks a stored row. Ingest looks new events up in event_ids
-- before inserting: an id already stored with the same digest is acknowledged and not stored again
-- (so views built on the data tables count each event once); the same id with another digest, or
-- from another platform, is refused and written to security_events. The replacing engines of the
-- data tables stay as a backstop: they collapse at merge time only and do not protect a view.
--
-- event_ids outlives erasure: a row erased or pseudonymised later keeps its id here (with the digest
-- 'erased'), so that a redelivery of it is acknowledged, not stored again.
ALTER TABLE ${db}.audit_events ${on_cluster} ADD COLUMN IF NOT EXISTS payload_sha256 String;
ALTER TABLE ${db}.usage_events ${on_cluster} ADD COLUMN IF NOT EXISTS payload_sha256 String;
ALTER TABLE ${db}.consent_receipts ${on_cluster} ADD COLUMN IF NOT EXISTS payload_sha256 String;

CREATE TABLE IF NOT EXISTS ${db}.event_ids ${on_cluster}
(
    event_id       UUID,
    platform       LowCardinality(String),
    stream         LowCardinality(String),
    payload_sha256 String,
    event_time     DateTime64(3, 'UTC'),
    received_at    DateTime64(3, 'UTC'),
    retention_days UInt16
)
ENGINE = ${merge_tree}
ORDER BY event_id
-- Kept a month past the row it stands for: a redelivery older than the stream's retention is refused
-- by the window of accepted event times anyway.
TTL toDateTime(event_time) + toIntervalDay(retention_days) + toIntervalDay(31)
-- Ingest looks up a few hundred ids at a time, each in its own granule: small granules read less.
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.event_ids_audit ${on_cluster} TO ${db}.event_ids AS
SELECT event_id, platform, 'audit' AS stream, payload_sha256, event_time, received_at, retention_days
FROM ${db}.audit_events;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.event_ids_usage ${on_cluster} TO ${db}.event_ids AS
SELECT event_id, platform, 'usage' AS stream, payload_sha256, event_time, received_at, retention_days
FROM ${db}.usage_events;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.event_ids_consent ${on_cluster} TO ${db}.event_ids AS
SELECT event_id, platform, 'consent' AS stream, payload_sha256, event_time, received_at, retention_days
FROM ${db}.consent_receipts;

-- Rows stored before this migration: their ids enter the ledger with an empty digest, which a
-- redelivery matches whatever it holds (their first payload was not recorded).
INSERT INTO ${db}.event_ids
SELECT event_id, platform, 'audit', '', event_time, received_at, retention_days FROM ${db}.audit_events FINAL;
INSERT INTO ${db}.event_ids
SELECT event_id, platform, 'usage', '', event_time, received_at, retention_days FROM ${db}.usage_events FINAL;
INSERT INTO ${db}.event_ids
SELECT event_id, platform, 'consent', '', event_time, received_at, retention_days FROM ${db}.consent_receipts FINAL;

-- What ingest refused because it would have rewritten the trail: a stored event id sent again with
-- other content, or by another platform than the one that stored it. Nothing of the refused
-- payload is kept but its digest; the platform that sent it and the id are what an auditor needs.
CREATE TABLE IF NOT EXISTS ${db}.security_events ${on_cluster}
(
    event_time      DateTime64(3, 'UTC'),
    kind            LowCardinality(String),
    platform        LowCardinality(String),
    event_id        UUID,
    stream          LowCardinality(String),
    stored_platform LowCardinality(String),
    stored_sha256   String,
    sent_sha256     String
)
ENGINE = ${merge_tree}
ORDER BY (event_time, platform)
TTL toDateTime(event_time) + toIntervalDay(730);
