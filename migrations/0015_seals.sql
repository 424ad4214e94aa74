-- Tamper evidence (R11; see docs/tamper-evidence.md and ccaudit.seal).
--
-- row_secrets: each sealed row's 32-byte random secret (hex), the key of the HMAC commitment through which
-- its personal fields enter its digest. Kept apart from the rows so that erasure can replace a row's
-- personal values and delete its secret: the commitment, in the sealed leaf, stays valid and can no
-- longer confirm a guessed value. row_id is the stream's row id (an event id; an access record's id
-- and its phase). No TTL: a secret of a row gone by its TTL confirms nothing without the row.
CREATE TABLE IF NOT EXISTS ${db}.row_secrets ${on_cluster}
(
    stream   LowCardinality(String),
    row_id   String,
    secret   String
)
ENGINE = ${replacing_merge_tree}
ORDER BY (stream, row_id);

-- seal_leaves: what each seal covers, one row per sealed row: its id, when its retention ends, its
-- digest and commitment, and its leaf (the Merkle tree's leaf over the three). A verifier needs these
-- to name a changed or removed row; the seal's signed root vouches for them.
CREATE TABLE IF NOT EXISTS ${db}.seal_leaves ${on_cluster}
(
    platform   LowCardinality(String),
    stream     LowCardinality(String),
    seq        UInt64,
    row_id     String,
    expires_ms Int64,
    digest     String,
    commitment String,
    leaf       String
)
ENGINE = ${merge_tree}
ORDER BY (platform, stream, seq, row_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- seals: one per platform, stream and period, chained by seq. payload is the signed canonical JSON
-- (the columns beside it repeat some of its fields, for reading; the verifier trusts only payload
-- and signature). A seal is written with the insert deduplication token platform/stream/seq, so two
-- sealers racing for one seq store one seal (across replicas on a cluster, where the replicated
-- engine deduplicates through Keeper); the loser reads the winner's seal back and stands down.
CREATE TABLE IF NOT EXISTS ${db}.seals ${on_cluster}
(
    platform     LowCardinality(String),
    stream       LowCardinality(String),
    seq          UInt64,
    period_start DateTime64(3, 'UTC'),
    period_end   DateTime64(3, 'UTC'),
    leaf_count   UInt64,
    seal_hash    String,
    key_id       String,
    payload      String,
    signature    String,
    sealer       String
)
ENGINE = ${merge_tree}
ORDER BY (platform, stream, seq)
SETTINGS non_replicated_deduplication_window = 1000;
