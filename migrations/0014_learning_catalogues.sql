-- The module catalogue's versions published through the API (PUT /v1/learning/catalogue): one row per
-- version, never rewritten; the highest version, or the file's (CCAUDIT_LEARNING_CATALOGUE_FILE) when
-- that one is higher, is in force. created_by is the operator's account.
CREATE TABLE IF NOT EXISTS ${db}.learning_catalogues ${on_cluster}
(
    version    UInt32,
    body       String,
    created_by String,
    created_at DateTime64(3, 'UTC')
)
ENGINE = ${replacing_merge_tree}
ORDER BY version;
