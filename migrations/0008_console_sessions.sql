-- Sessions of the web console (ccaudit.console.sessions): one row per login, found by the SHA-256 of
-- the session cookie's 256-bit secret (the secret itself is never stored). In the store rather than
-- in a replica's memory, so that a logout or a timeout ends the session on every replica at once.
--
-- ReplacingMergeTree on the digest with `version`: a refreshed last_seen and a logout (ended) are new
-- row versions, and reads use FINAL. The TTL drops a session's rows two days after its start, past
-- any absolute timeout the settings allow (at most 24 hours): they hold no event data, only who was
-- logged in and when.
CREATE TABLE IF NOT EXISTS ${db}.console_sessions ${on_cluster}
(
    session_sha256 String,
    account_id     String,
    csrf_token     String,
    created_at     DateTime64(3, 'UTC'),
    last_seen      DateTime64(3, 'UTC'),
    ended          Bool,
    version        UInt64
)
ENGINE = ${replacing_merge_tree}(version)
ORDER BY session_sha256
TTL toDateTime(created_at) + INTERVAL 2 DAY;
