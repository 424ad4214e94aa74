-- Reading the access stream is itself recorded (kind 'access_log'): the records name who searched
-- for whom, so the DPO's reads of them are reads of personal data too (R6). Adding an Enum value
-- changes only the table's metadata.
ALTER TABLE ${db}.access_events ${on_cluster}
    MODIFY COLUMN kind Enum8('search' = 1, 'detail' = 2, 'export' = 3, 'access_log' = 4);
