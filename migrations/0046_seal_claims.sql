-- Claims on a seal (see ccaudit.seal.store.SealStore.make_leaves): with several replicas sealing,
-- two sealers began the same period at once and both drew secrets and leaves for its rows, and the
-- docs said to run one. Now a sealer notes its attempt under its own id, inserted with a
-- deduplication token per seq and attempt number: of two sealers racing for a seq, the engine keeps
-- the first row and drops the second insert, and only the sealer whose row was kept goes on. The
-- window below is how many recent insert tokens the table remembers (a replicated table keeps its
-- own in Keeper). Attempts stored before this migration have no sealer: any sealer may take them
-- over.
ALTER TABLE ${db}.seal_attempts ${on_cluster} ADD COLUMN IF NOT EXISTS sealer String DEFAULT '';
ALTER TABLE ${db}.seal_attempts ${on_cluster} MODIFY SETTING non_replicated_deduplication_window = 1000;
