-- Data-subject rights (R10): requests and their deadlines, restrictions and objections, and the
-- list of erased subjects that ingest checks late arrivals against (see docs/rights.md).
--
-- subject_requests: one row version per step (received, verified, extended, done, refused). The
-- identity check is recorded as who checked it and how, never a copy of a document. account_id
-- names the person while the request is open; a full erasure pseudonymises it like the audit trail.
CREATE TABLE IF NOT EXISTS ${db}.subject_requests ${on_cluster}
(
    request_id    String,
    kind          LowCardinality(String),
    platform      LowCardinality(String),
    account_id    String,
    received_at   DateTime64(3, 'UTC'),
    due_at        DateTime64(3, 'UTC'),
    status        LowCardinality(String),
    verified_by   String,
    verified_how  String,
    extension     String,
    answer        String,
    updated_at    DateTime64(3, 'UTC'),
    version       UInt64
)
ENGINE = ${replacing_merge_tree}(version)
ORDER BY request_id;

-- Restrictions (art. 18) and objections (art. 21) per identifier of a subject: while active, the
-- read paths leave the identifier's rows out. purpose '' is a restriction of all use; a purpose
-- (P5) is an objection to that processing. One row version per change.
CREATE TABLE IF NOT EXISTS ${db}.subject_restrictions ${on_cluster}
(
    platform    LowCardinality(String),
    identifier  String,
    purpose     LowCardinality(String),
    request_id  String,
    active      Bool,
    changed_at  DateTime64(3, 'UTC'),
    version     UInt64
)
ENGINE = ${replacing_merge_tree}(version)
ORDER BY (platform, identifier, purpose);

-- Erased subjects: only a keyed digest of each identifier (key in erasure_keys), and the pseudonym
-- the audit trail now carries for it, so that an event still in a platform's spool that arrives
-- after the erasure is pseudonymised the same way or dropped (streams: the streams erased). Kept past any spool's and dead
-- letters' age bound (at most 366 days each), then the TTL drops it.
CREATE TABLE IF NOT EXISTS ${db}.erased_subjects ${on_cluster}
(
    digest     String,
    platform   LowCardinality(String),
    streams    Array(LowCardinality(String)),
    pseudonym  String,
    erased_at  DateTime64(3, 'UTC')
)
ENGINE = ${replacing_merge_tree}
ORDER BY (digest, platform)
TTL toDateTime(erased_at) + toIntervalDay(800);

CREATE TABLE IF NOT EXISTS ${db}.erasure_keys ${on_cluster}
(
    key_id     String,
    secret     String,
    created_at DateTime64(3, 'UTC')
)
ENGINE = ${replacing_merge_tree}
ORDER BY key_id;
