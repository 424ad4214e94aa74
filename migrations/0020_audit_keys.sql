-- Keyed searches of the audit trail at any size: "this actor", "this subject", "this request",
-- "this trace", across all of time.
--
-- The skip indexes of migrations 0001, 0007 and 0009 cannot carry these at scale: an actor's events
-- are spread over every month and organisation, so nearly every index block holds one of them
-- (measured here, chDB 26.9: at 2M rows a search by actor still read a third of the table, 265 ms
-- at p50 before merges, 900 ms with FINAL). This table holds, per key, where each event lies in
-- audit_events' sorting key (platform, organisation, event_time, event_id), itself sorted by the key:
-- a search reads the key's few granules here, then fetches its events from audit_events by their
-- sorting key (`(platform, organisation, event_time, event_id) IN (SELECT …)`, which the engine
-- answers from the primary index), so FINAL only merges the ranges that hold them.
--
-- Why not a projection (a second copy of audit_events sorted by actor): on a ReplacingMergeTree it is
-- refused unless deduplicate_merge_projection_mode is set, it is not used by queries with FINAL, and
-- it blocks lightweight DELETE unless lightweight_mutation_projection_mode is set.
--
-- It is personal data like the rows it points to (a key is an account, profile, subject, request or
-- trace id): ccaudit.store.tables declares it, so that subject rights reach it, and its rows expire
-- with their events (same retention_days). A materialized view fills it at insert, one row per key
-- an event carries; a duplicate row (a redelivery a replica let through) only repeats a pointer.
CREATE TABLE IF NOT EXISTS ${db}.audit_keys ${on_cluster}
(
    kind           LowCardinality(String),  -- actor (account or profile id), subject, request, trace
    key            String,
    event_time     DateTime64(3, 'UTC'),
    event_id       UUID,
    platform       LowCardinality(String),
    organisation   LowCardinality(String),
    retention_days UInt16
)
ENGINE = ${merge_tree}
ORDER BY (kind, key, event_time, event_id)
TTL toDateTime(event_time) + toIntervalDay(retention_days)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.audit_keys_mv ${on_cluster} TO ${db}.audit_keys AS
SELECT k.1 AS kind, k.2 AS key, event_time, event_id, platform, organisation, retention_days
FROM ${db}.audit_events
ARRAY JOIN arrayFilter(x -> x.2 != '', [
    ('actor', actor_account_id), ('actor', actor_profile_id), ('subject', subject_id),
    ('request', request_id), ('trace', trace_id)
]) AS k;

-- Events stored before this migration.
INSERT INTO ${db}.audit_keys
SELECT k.1, k.2, event_time, event_id, platform, organisation, retention_days
FROM ${db}.audit_events
ARRAY JOIN arrayFilter(x -> x.2 != '', [
    ('actor', actor_account_id), ('actor', actor_profile_id), ('subject', subject_id),
    ('request', request_id), ('trace', trace_id)
]) AS k;
