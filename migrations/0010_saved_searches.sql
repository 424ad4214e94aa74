-- Saved searches of the console (ccaudit.search.saved): per account, a name and the query string of
-- an audit search (its filters, as /console/search takes them). A saved search holds no rows: running
-- it runs the search again as the account, within its bounds, and is recorded in the access stream.
--
-- ReplacingMergeTree on (account_id, search_id) with `version` and `deleted` as the is-deleted column:
-- reads use FINAL, which leaves out a deleted search. A deletion is a new version with the name and
-- the query blanked, so once the parts merge the query (which may name a person: actor:anna) is gone
-- from the disk too, not only from the reads. account_id, name and query are subject columns
-- (ccaudit.store.tables.SAVED_SEARCHES).
CREATE TABLE IF NOT EXISTS ${db}.saved_searches ${on_cluster}
(
    account_id  String,
    search_id   String,
    name        String,
    query       String,
    created_at  DateTime64(3, 'UTC'),
    version     UInt64,
    deleted     UInt8
)
ENGINE = ${replacing_merge_tree}(version, deleted)
ORDER BY (account_id, search_id);
