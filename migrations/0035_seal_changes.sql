-- Tamper evidence meets erasure and retention (see docs/tamper-evidence.md, ccaudit.seal.changes).
--
-- seal_changes: one row per sealed-stream row that ccaudit itself changed after it may have been
-- sealed: 'erased' (its personal values pseudonymised and its secret destroyed), 'deleted' (removed
-- by an erasure or the retention job) or 'retention' (its retention_days set anew, by the retention
-- job's apply or a legal hold; expires_ms is then the new expiry). The verifier accepts such a change
-- of a sealed row only when a row here accounts for it: a secret destroyed or a row deleted by hand
-- still shows. These rows are a sealed stream of their own (stream 'changes', chain '_service'), so
-- a change record removed or forged after its seal shows too. cause names the operation (its kind
-- and a random id, one per erasure batch or retention step); nothing here names a person: row_id is
-- the changed row's id in its stream (an event id, or an access record's id and phase). No TTL: the
-- record must outlive the row it accounts for, whose sealed leaf stays in its seal for ever.
CREATE TABLE IF NOT EXISTS ${db}.seal_changes ${on_cluster}
(
    change_id   UUID,
    event_time  DateTime64(3, 'UTC'),
    platform    LowCardinality(String),
    stream      LowCardinality(String),
    row_id      String,
    change      LowCardinality(String),
    expires_ms  Int64,
    cause       String
)
ENGINE = ${merge_tree}
ORDER BY (stream, platform, row_id, event_time, change_id);
