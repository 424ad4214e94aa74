-- Waivers (R7): a learning_manager lets one learner start a module whatever its rule says, with a
-- reason; the eligibility rule's `waiver` condition reads them, and each waiver is also an audit
-- event (learning.waiver.granted). Personal data: learner is the subject, granted_by the manager's
-- account (ccaudit.store.tables.LEARNING_WAIVERS). Plain MergeTree: a waiver is never rewritten.
-- Kept as long as the learning stream (two years by default), from the moment it was granted.
CREATE TABLE IF NOT EXISTS ${db}.learning_waivers ${on_cluster}
(
    waiver_id      UUID,
    platform       LowCardinality(String),
    learner        String,
    module         LowCardinality(String),
    organisation   LowCardinality(String),
    reason         String,
    granted_by     String,
    granted_at     DateTime64(3, 'UTC'),
    retention_days UInt16
)
ENGINE = ${merge_tree}
ORDER BY (platform, learner, module, granted_at)
TTL toDateTime(granted_at) + toIntervalDay(retention_days);
