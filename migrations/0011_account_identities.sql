-- Accounts that log in through the organisation's identity provider (OpenID Connect; see
-- ccaudit.access.identities). Such an account is an ordinary row of `accounts` without a password
-- (an empty hash never verifies); this table links it to the provider's user: the issuer and the
-- subject (`sub`) of its ID tokens, which the provider keeps stable for that user, unlike an email
-- address or a username.
--
-- ReplacingMergeTree on (issuer, subject) with `version`: the link is written once per login with
-- the claims' name shown then; reads use FINAL.
CREATE TABLE IF NOT EXISTS ${db}.account_identities ${on_cluster}
(
    issuer     String,
    subject    String,
    account_id String,
    linked_at  DateTime64(3, 'UTC'),
    last_login DateTime64(3, 'UTC'),
    version    UInt64
)
ENGINE = ${replacing_merge_tree}(version)
ORDER BY (issuer, subject);

-- The `state` of each OpenID Connect login that came back, as its SHA-256: a login's state is
-- accepted once, on every replica, so a callback address that is replayed (from a browser's history,
-- a log or a proxy) starts no second session. The TTL drops a row a day after its use, far past the
-- ten minutes a login's state is valid for.
CREATE TABLE IF NOT EXISTS ${db}.oidc_used_states ${on_cluster}
(
    state_sha256 String,
    used_at      DateTime64(3, 'UTC')
)
ENGINE = ${merge_tree}
ORDER BY state_sha256
TTL toDateTime(used_at) + INTERVAL 1 DAY;
