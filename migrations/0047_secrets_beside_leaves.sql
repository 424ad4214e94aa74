-- Each sealed row's secret beside its leaf (see ccaudit.seal.store.SealStore.make_leaves).
--
-- The sealer wrote each period twice, through seal_input: its leaves into seal_leaves (sorted by seq)
-- and its secrets into row_secrets (sorted by row id, which is random). The second write and its
-- merges were a large part of what sealing cost the service, and a verifier looking a stretch of
-- rows' secrets up in row_secrets read the whole table every time: verifying grew with the square of
-- the store. Now the secret is a column of the row's leaf: one write, and a stretch's secrets are
-- found by its seqs. The secret is not part of the leaf (nothing signed covers it); erasure blanks
-- it (ccaudit.seal.changes), as it deleted a row_secrets row.
--
-- row_secrets keeps the secrets of the rows sealed before this migration (their leaves' secret is
-- empty): the verifier and erasure still read it for those.
ALTER TABLE ${db}.seal_leaves ${on_cluster} ADD COLUMN IF NOT EXISTS secret String DEFAULT '';
DROP VIEW IF EXISTS ${db}.seal_input_secrets ${on_cluster};
DROP VIEW IF EXISTS ${db}.seal_input_leaves ${on_cluster};
DROP TABLE IF EXISTS ${db}.seal_input ${on_cluster};
