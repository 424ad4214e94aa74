-- Sealing in one pass (see ccaudit.seal.store.SealStore.make_leaves).
--
-- A period's rows used to get their secrets in one statement and their leaves in a second that
-- joined the rows with row_secrets. row_secrets is sorted by row id, which is random: looking a
-- period's ids up read the whole table, every round, so sealing cost grew with everything ever
-- sealed. Now one INSERT … SELECT reads the period's rows once, draws each row's secret and computes
-- its leaf, and writes both through seal_input: a Null table (it keeps nothing) whose two views
-- split each block between seal_leaves and row_secrets. Both views see the same block, so a row's
-- stored secret is the one its leaf was made with.
CREATE TABLE IF NOT EXISTS ${db}.seal_input ${on_cluster}
(
    platform   LowCardinality(String),
    stream     LowCardinality(String),
    seq        UInt64,
    row_id     String,
    expires_ms Int64,
    digest     String,
    commitment String,
    leaf       String,
    secret     String
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.seal_input_leaves ${on_cluster} TO ${db}.seal_leaves AS
SELECT platform, stream, seq, row_id, expires_ms, digest, commitment, leaf FROM ${db}.seal_input;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.seal_input_secrets ${on_cluster} TO ${db}.row_secrets AS
SELECT stream, row_id, secret FROM ${db}.seal_input;

-- seal_attempts: one row per seal the sealer began, written before the pass. A seq found here with
-- no seal was interrupted (a crash, the store away mid-round): its rows may already hold secrets,
-- so the next attempt keeps them and makes only the missing ones, the old way, rather than draw a
-- second secret for a row. No personal data: platform, stream, seq and a time.
CREATE TABLE IF NOT EXISTS ${db}.seal_attempts ${on_cluster}
(
    platform LowCardinality(String),
    stream   LowCardinality(String),
    seq      UInt64,
    began    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ${merge_tree}
ORDER BY (platform, stream, seq);
