-- Revoked waivers (R7): a learning_manager takes back a learner's waiver of a module, with a reason.
-- A waiver row is never rewritten (migration 0013); a revocation is a row of its own, naming the
-- waiver, and a waiver with a revocation no longer counts (ccaudit.learning.records, bulk.py). Each
-- revocation is also an audit event (learning.waiver.revoked). Personal data: learner is the subject,
-- revoked_by the manager's account (ccaudit.store.tables.LEARNING_WAIVER_REVOCATIONS). Kept as long
-- as the learning stream from the moment of revocation: a waiver, granted earlier under the same
-- retention, is always gone before its revocation.
CREATE TABLE IF NOT EXISTS ${db}.learning_waiver_revocations ${on_cluster}
(
    waiver_id      UUID,
    platform       LowCardinality(String),
    learner        String,
    module         LowCardinality(String),
    organisation   LowCardinality(String),
    reason         String,
    revoked_by     String,
    revoked_at     DateTime64(3, 'UTC'),
    retention_days UInt16
)
ENGINE = ${merge_tree}
ORDER BY (platform, learner, module, waiver_id)
TTL toDateTime(revoked_at) + toIntervalDay(retention_days);
