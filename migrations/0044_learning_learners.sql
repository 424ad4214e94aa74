-- One row per learner (platform, learner): their latest organisation and profession, kept by the engine
-- at insert time like learning_state (migration 0012). Bulk eligibility files learners by organisation,
-- and statistics group them by organisation or profession: read from learning_state, each of those
-- took an argMax state per module and lesson of every learner of the platform, merged and compared.
--
-- "Latest" is the event with the greatest (event_time, event id as text), as in learning_state's
-- cells. Each column is the max of a tuple (that time, that id, the value): a plain tuple column
-- whose max is order-independent and idempotent, so the row is right whatever the order and however
-- often its events arrive, and a read merges what is not merged yet with max(). A rectification
-- (ccaudit.rights.rectify) adds (its moment, 'rectified', the value): newer than every event before
-- it ('rectified' sorts after any id's hex text), older than the next one.
--
-- Personal data of the learner (ccaudit.store.tables.LEARNING_LEARNERS); it outlives the learner's
-- last event by the stream's retention, as learning_state's cells do.
CREATE TABLE IF NOT EXISTS ${db}.learning_learners ${on_cluster}
(
    platform         LowCardinality(String),
    learner          String,
    last_seen        SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    retention_days   SimpleAggregateFunction(max, UInt16),
    organisation     SimpleAggregateFunction(max, Tuple(DateTime64(3, 'UTC'), String, String)),
    profession       SimpleAggregateFunction(max, Tuple(DateTime64(3, 'UTC'), String, String))
)
ENGINE = AggregatingMergeTree
ORDER BY (platform, learner)
TTL toDateTime(last_seen) + toIntervalDay(retention_days);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.learning_learners_mv ${on_cluster} TO ${db}.learning_learners AS
SELECT
    platform, learner,
    max(event_time) AS last_seen,
    max(retention_days) AS retention_days,
    max((event_time, toString(event_id), toString(organisation))) AS organisation,
    max((event_time, toString(event_id), toString(profession))) AS profession
FROM ${db}.learning_events
GROUP BY platform, learner;

-- The learners stored before this migration, from learning_state, which holds their rectifications
-- too: each learner's latest cell (by last seen, then module and lesson, as answers read it until
-- now), dated by that cell's last event with an empty id, so any later event wins over it.
INSERT INTO ${db}.learning_learners
SELECT platform, learner, max(ls), max(rd), argMax((ls, '', org), (ls, module, lesson)),
       argMax((ls, '', prof), (ls, module, lesson))
FROM (
    SELECT platform, learner, module, lesson, max(last_seen) AS ls, max(retention_days) AS rd,
           argMaxMerge(organisation) AS org, argMaxMerge(profession) AS prof
    FROM ${db}.learning_state GROUP BY platform, learner, module, lesson
)
GROUP BY platform, learner;
