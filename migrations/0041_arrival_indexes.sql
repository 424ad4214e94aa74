-- Sealing reads each period's rows by arrival (received_at), which no sorting key holds: without an
-- index every round read the arrival column of the whole table (at 2M audit events, 146 ms a query
-- and three queries a round; it grows with the table). A min-max index per granule skips every
-- granule that arrived before the period: parts merged from older inserts hold only older arrivals.
-- Measured at 2M rows: 25 ms, reading the newest parts only.
ALTER TABLE ${db}.audit_events ${on_cluster}
    ADD INDEX IF NOT EXISTS idx_received received_at TYPE minmax GRANULARITY 1;
ALTER TABLE ${db}.consent_receipts ${on_cluster}
    ADD INDEX IF NOT EXISTS idx_received received_at TYPE minmax GRANULARITY 1;
ALTER TABLE ${db}.learning_events ${on_cluster}
    ADD INDEX IF NOT EXISTS idx_received received_at TYPE minmax GRANULARITY 1;

-- Parts stored before: built by a background mutation; until it is done, a round reads them whole.
ALTER TABLE ${db}.audit_events ${on_cluster} MATERIALIZE INDEX idx_received;
ALTER TABLE ${db}.consent_receipts ${on_cluster} MATERIALIZE INDEX idx_received;
ALTER TABLE ${db}.learning_events ${on_cluster} MATERIALIZE INDEX idx_received;
