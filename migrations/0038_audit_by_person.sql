-- Searches by person ("this actor", "this subject") at any size: a copy of each audit event under
-- every person it names, sorted by that person.
--
-- The pointers of migration 0020 carry request and trace ids well (one event each) but not people:
-- an actor's events lie in every part and every organisation, and a pointer into audit_events'
-- sorting key (platform, organisation, event_time, event_id) hits one granule of its organisation
-- in every part (in a part, an organisation's rows span less than a granule, so the time cannot
-- narrow it); FINAL then widens those ranges further. Measured here at 10M rows (chDB 26.9): a
-- search by actor read half of audit_events, 6.5 s at p50. This table holds the events themselves,
-- sorted by (kind, key, event_time, event_id): a search by person reads one short range per part,
-- newest first, whatever the table's size.
--
-- A plain MergeTree, read without FINAL: the ledger (migration 0005) lets one row per event id into
-- audit_events, so each event arrives here once per person; a read keeps one row per event id all
-- the same (LIMIT 1 BY), in case a replica let a redelivery through.
--
-- It is personal data like audit_events, with the same columns: ccaudit.store.tables declares it,
-- so retention runs, exports and erasure reach it. Erasure pseudonymises the person in every row and
-- files their rows anew under the pseudonym (a sort key cannot be rewritten: ccaudit.rights.rekey);
-- rows expire with their events (same retention_days), and `ccaudit retention apply` moves both alike.
CREATE TABLE IF NOT EXISTS ${db}.audit_by_person ${on_cluster}
(
    kind              LowCardinality(String),  -- actor (account or profile id) or subject
    key               String,
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
    payload_sha256    String
)
ENGINE = ${merge_tree}
PARTITION BY toYYYYMM(event_time)
ORDER BY (kind, key, event_time, event_id)
TTL toDateTime(event_time) + toIntervalDay(retention_days)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.audit_by_person_mv ${on_cluster} TO ${db}.audit_by_person AS
SELECT k.1 AS kind, k.2 AS key, event_id, event_time, received_at, platform, organisation, actor_account_id,
       actor_profile_id, actor_role, admin_operation, subject_id, action, route, resource_type, resource_id, method,
       status, outcome, duration_ms, client_ip, peer_ip, user_agent, browser, browser_version, os, device, is_bot,
       request_id, trace_id, span_id, details, retention_days, payload_sha256
FROM ${db}.audit_events
ARRAY JOIN arrayDistinct(arrayFilter(x -> x.2 != '', [
    ('actor', actor_account_id), ('actor', actor_profile_id), ('subject', subject_id)
])) AS k;

-- Events stored before this migration.
INSERT INTO ${db}.audit_by_person
SELECT k.1, k.2, event_id, event_time, received_at, platform, organisation, actor_account_id, actor_profile_id,
       actor_role, admin_operation, subject_id, action, route, resource_type, resource_id, method, status, outcome,
       duration_ms, client_ip, peer_ip, user_agent, browser, browser_version, os, device, is_bot, request_id,
       trace_id, span_id, details, retention_days, payload_sha256
FROM ${db}.audit_events FINAL
ARRAY JOIN arrayDistinct(arrayFilter(x -> x.2 != '', [
    ('actor', actor_account_id), ('actor', actor_profile_id), ('subject', subject_id)
])) AS k;

-- audit_keys keeps the pointers it carries well: request and trace ids.
DROP VIEW IF EXISTS ${db}.audit_keys_mv ${on_cluster};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.audit_keys_mv ${on_cluster} TO ${db}.audit_keys AS
SELECT k.1 AS kind, k.2 AS key, event_time, event_id, platform, organisation, retention_days
FROM ${db}.audit_events
ARRAY JOIN arrayFilter(x -> x.2 != '', [('request', request_id), ('trace', trace_id)]) AS k;

ALTER TABLE ${db}.audit_keys ${on_cluster} DELETE WHERE kind IN ('actor', 'subject');
