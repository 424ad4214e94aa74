-- Ingest tokens, one or more per platform. Only a SHA-256 of each token's secret is stored; the
-- token itself is shown once, when it is made. not_after is NULL while a token is current; rotating
-- sets it to the end of the grace period, revoking to now. ReplacingMergeTree on token_id with
-- `version`: each change is a new row version, and reads use FINAL.
CREATE TABLE IF NOT EXISTS ${db}.platform_tokens ${on_cluster}
(
    token_id      String,
    platform      LowCardinality(String),
    secret_sha256 String,
    created_at    DateTime64(3, 'UTC'),
    not_after     Nullable(DateTime64(3, 'UTC')),
    version       UInt64
)
ENGINE = ${replacing_merge_tree}(version)
ORDER BY token_id;
