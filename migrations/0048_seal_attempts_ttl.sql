-- seal_attempts kept 30 days (see ccaudit.seal.store.SealStore.make_leaves). Every round notes an
-- attempt per chain, empty periods too: about 58,000 rows a day for 50 platforms at 5-minute periods,
-- with nothing that ever removed them. An attempt matters while its seq is unsealed: its claim holds
-- for an hour (CLAIM_MS), and the number of attempts at a seq makes the next claim's deduplication
-- token, which the engine remembers for the last 1,000 inserts only (migration 0046), minutes at
-- that rate. A month is far beyond both.
ALTER TABLE ${db}.seal_attempts ${on_cluster} MODIFY TTL toDateTime(began) + INTERVAL 30 DAY;
