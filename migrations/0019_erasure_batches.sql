-- The identifiers one erasure works on (ccaudit.rights.erase): written before the erasure's mutations,
-- which read them in the engine (a retention run erases many accounts in one mutation per table), and
-- deleted when it ends; the TTL removes what a crash left behind.
CREATE TABLE IF NOT EXISTS ${db}.erasure_batches ${on_cluster}
(
    batch_id   String,
    identifier String,
    created_at DateTime64(3, 'UTC')
)
ENGINE = ${merge_tree}
ORDER BY (batch_id, identifier)
TTL toDateTime(created_at) + INTERVAL 1 DAY;
