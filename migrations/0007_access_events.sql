-- The audit trail of the audit trail (R6): every search, detail view and export of audit events,
-- who read (the principal), when, through which route, with which filters and how many rows. The
-- DPO reads it (GET /v1/access/events); a read whose record cannot be stored is refused.
--
-- An export is recorded twice under one access_id: when it starts (complete = false, rows = 0) and
-- when its last row is sent (complete = true, rows = the count), so an export cut short still shows.
-- Plain MergeTree: a record is never rewritten. account_id is the reader's account (empty for a
-- platform read token); filters may name the people searched for (an actor, a subject, an IP), so
-- both are subject columns (ccaudit.store.tables.ACCESS_EVENTS). Kept two years.
CREATE TABLE IF NOT EXISTS ${db}.access_events ${on_cluster}
(
    access_id      UUID,
    event_time     DateTime64(3, 'UTC'),
    principal      String,
    principal_kind LowCardinality(String),
    account_id     String,
    role           LowCardinality(String),
    route          LowCardinality(String),
    kind           Enum8('search' = 1, 'detail' = 2, 'export' = 3),
    filters        String,
    rows           UInt64,
    complete       Bool,
    INDEX idx_account account_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ${merge_tree}
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, access_id)
TTL toDateTime(event_time) + toIntervalDay(730);

-- Keyed searches of the audit trail at scale. The sorting key (platform, organisation, event_time,
-- event_id) serves "this platform/organisation, this time range" by range; the per-person keys cut
-- across time and are served by skip indexes: bloom filters on the actor, profile, subject, request
-- and trace ids (migration 0001) and, here, on the client IP (an exact address; a CIDR search reads
-- the IP column, narrowed by whatever else the search names), and an ngram bloom filter on the
-- details' values as one lower-case text (ccaudit.store.audit.DETAILS_TEXT, the very expression the
-- free-text search matches with LIKE, so the index applies).
--
-- Why skip indexes and not a projection (a second copy sorted by actor): on this ReplacingMergeTree
-- a projection is refused unless deduplicate_merge_projection_mode is set, is not used by queries
-- with FINAL (every read here uses FINAL), and blocks lightweight DELETE unless
-- lightweight_mutation_projection_mode is set. A skip index is part of each data part: erasure (a
-- lightweight DELETE or an UPDATE mutation of audit_events) rewrites the parts it touches and their
-- indexes with them, so no separate structure holds a copy of an erased person's identifiers.
--
-- MATERIALIZE INDEX builds the new indexes for parts stored before this migration, in the
-- background; until it is done those parts are read without skipping, with the same results.
ALTER TABLE ${db}.audit_events ${on_cluster}
    ADD INDEX IF NOT EXISTS idx_client_ip client_ip TYPE bloom_filter(0.01) GRANULARITY 4;
ALTER TABLE ${db}.audit_events ${on_cluster}
    ADD INDEX IF NOT EXISTS idx_details_text lowerUTF8(arrayStringConcat(mapValues(details), '\n'))
    TYPE ngrambf_v1(3, 65536, 2, 0) GRANULARITY 1;
ALTER TABLE ${db}.audit_events ${on_cluster} MATERIALIZE INDEX idx_client_ip;
ALTER TABLE ${db}.audit_events ${on_cluster} MATERIALIZE INDEX idx_details_text;
