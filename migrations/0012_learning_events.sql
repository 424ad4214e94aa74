-- Learning events (R4, R7): one row per step of a learner in a module or lesson, on the v1 wire's
-- learning stream (ccaudit.wire.LearningEventIn). Personal data of the learner: learner is the
-- subject column (ccaudit.store.tables.LEARNING_EVENTS), and profession is the learner's profession
-- at that moment. No IP address, no user agent, no name, no e-mail.
--
-- ReplacingMergeTree keyed on a sorting key that ends in event_id, as for the other streams; ingest
-- stores one row per event id (the ledger, migration 0005), and event_ids_learning below puts every
-- stored row in that ledger in the same insert. ORDER BY serves "this learner, this module".
-- retention_days is set per row at ingest (stream "learning" of the processing register).
CREATE TABLE IF NOT EXISTS ${db}.learning_events ${on_cluster}
(
    event_id        UUID,
    event_time      DateTime64(3, 'UTC'),
    received_at     DateTime64(3, 'UTC'),
    platform        LowCardinality(String),
    verb            Enum8('registered' = 1, 'initialized' = 2, 'progressed' = 3, 'completed' = 4, 'passed' = 5,
                          'failed' = 6, 'terminated' = 7, 'satisfied' = 8, 'waived' = 9),
    learner         String,
    organisation    LowCardinality(String),
    module          LowCardinality(String),
    lesson          String,
    registration    String,
    profession      LowCardinality(String),
    progress        Nullable(UInt8),
    score           Nullable(Float64),
    reason          String,
    duration_ms     Nullable(Float64),
    request_id      String,
    retention_days  UInt16,
    payload_sha256  String
)
ENGINE = ${replacing_merge_tree}
PARTITION BY toYYYYMM(event_time)
ORDER BY (platform, learner, module, event_time, event_id)
TTL toDateTime(event_time) + toIntervalDay(retention_days)
SETTINGS index_granularity = 8192;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.event_ids_learning ${on_cluster} TO ${db}.event_ids AS
SELECT event_id, platform, 'learning' AS stream, payload_sha256, event_time, received_at, retention_days
FROM ${db}.learning_events;

-- The state of each (platform, learner, module, lesson), kept by the engine at insert time: the view
-- below turns every inserted row into a partial state, and the engine merges partial states when parts
-- merge. Every aggregate is order-independent and idempotent (min, max, argMin/argMax with a key that
-- ends in the event id's text, so equal times still pick one answer), so a state is right however
-- late or in whatever order its events arrive, and the ledger's one row per event id keeps a resent
-- event from counting twice. Reads merge what is not merged yet (ccaudit.store.learning).
--
-- lesson '' is the module itself. first_completed, first_passed, first_waived and first_registered are
-- NULL until such an event comes; the *_event columns hold the id of the earliest event that proves
-- completion, a pass, a waiver, and of the event with the best score: the evidence an eligibility
-- answer shows. profession and organisation are the latest by event time.
CREATE TABLE IF NOT EXISTS ${db}.learning_state ${on_cluster}
(
    platform         LowCardinality(String),
    learner          String,
    module           LowCardinality(String),
    lesson           String,
    first_seen       SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen        SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    retention_days   SimpleAggregateFunction(max, UInt16),
    best_progress    SimpleAggregateFunction(max, UInt8),
    first_registered SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    first_started    SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    first_completed  SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    first_passed     SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    first_waived     SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    best_score       SimpleAggregateFunction(max, Nullable(Float64)),
    failed           SimpleAggregateFunction(max, UInt8),
    completed_event  AggregateFunction(argMinIf, UUID, Tuple(DateTime64(3, 'UTC'), String), UInt8),
    passed_event     AggregateFunction(argMinIf, UUID, Tuple(DateTime64(3, 'UTC'), String), UInt8),
    waived_event     AggregateFunction(argMinIf, UUID, Tuple(DateTime64(3, 'UTC'), String), UInt8),
    score_event      AggregateFunction(argMaxIf, UUID, Tuple(Float64, String), UInt8),
    profession       AggregateFunction(argMax, String, Tuple(DateTime64(3, 'UTC'), String)),
    organisation     AggregateFunction(argMax, String, Tuple(DateTime64(3, 'UTC'), String))
)
ENGINE = AggregatingMergeTree
ORDER BY (platform, learner, module, lesson)
-- A state outlives its last event by the stream's retention, as the events themselves do.
TTL toDateTime(last_seen) + toIntervalDay(retention_days)
-- An eligibility answer reads one learner's few rows: small granules read less around them.
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.learning_state_mv ${on_cluster} TO ${db}.learning_state AS
SELECT
    platform, learner, module, lesson,
    min(event_time) AS first_seen,
    max(event_time) AS last_seen,
    max(retention_days) AS retention_days,
    max(toUInt8(multiIf(verb IN ('completed', 'passed'), 100, verb = 'progressed', ifNull(progress, 0), 0)))
        AS best_progress,
    minIf(toNullable(event_time), verb = 'registered') AS first_registered,
    minIf(toNullable(event_time), verb NOT IN ('registered', 'satisfied', 'waived')) AS first_started,
    minIf(toNullable(event_time), verb = 'completed') AS first_completed,
    minIf(toNullable(event_time), verb = 'passed') AS first_passed,
    minIf(toNullable(event_time), verb = 'waived') AS first_waived,
    maxIf(score, verb IN ('passed', 'failed')) AS best_score,
    max(toUInt8(verb = 'failed')) AS failed,
    argMinIfState(event_id, (event_time, toString(event_id)), toUInt8(verb = 'completed')) AS completed_event,
    argMinIfState(event_id, (event_time, toString(event_id)), toUInt8(verb = 'passed')) AS passed_event,
    argMinIfState(event_id, (event_time, toString(event_id)), toUInt8(verb = 'waived')) AS waived_event,
    argMaxIfState(event_id, (ifNull(score, -2.0), toString(event_id)), toUInt8(score IS NOT NULL)) AS score_event,
    argMaxState(toString(profession), (event_time, toString(event_id))) AS profession,
    argMaxState(toString(organisation), (event_time, toString(event_id))) AS organisation
FROM ${db}.learning_events
GROUP BY platform, learner, module, lesson;
