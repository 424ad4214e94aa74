-- People and machines that read: accounts with a role and organisations, and the tokens they read
-- with (R11: only authorised people see personal data; see ccaudit.access).
--
-- Both tables are ReplacingMergeTree on their id with `version`: each change (a new password, a
-- disabled account, a revoked token) is a new row version, and reads use FINAL.
--
-- An account's password is stored only as its argon2id hash. organisations is the list of
-- organisations an org_admin or learning_manager may see; the other roles see every organisation.
CREATE TABLE IF NOT EXISTS ${db}.accounts ${on_cluster}
(
    account_id    String,
    username      String,
    role          LowCardinality(String),
    organisations Array(String),
    password_hash String,
    disabled      Bool,
    created_at    DateTime64(3, 'UTC'),
    version       UInt64
)
ENGINE = ${replacing_merge_tree}(version)
ORDER BY account_id;

-- API tokens: personal ones (an account's, with the account's role and organisations, narrowed by
-- scopes) and platform read tokens (a machine's, for one platform, with explicit scopes). Only the
-- SHA-256 of a token's 256-bit secret is stored; the token is shown once, when it is made.
CREATE TABLE IF NOT EXISTS ${db}.api_tokens ${on_cluster}
(
    token_id      String,
    kind          Enum8('personal' = 1, 'platform_read' = 2),
    account_id    String,
    platform      LowCardinality(String),
    scopes        Array(LowCardinality(String)),
    secret_sha256 String,
    created_at    DateTime64(3, 'UTC'),
    expires_at    DateTime64(3, 'UTC'),
    revoked       Bool,
    version       UInt64
)
ENGINE = ${replacing_merge_tree}(version)
ORDER BY token_id;
