-- Bounded worker state (issue 14): the worker keeps only hot records and cells in memory and loads the others
-- on demand, as of its durable checkpoint. See sinks/SCHEMA.md, "State on demand".

-- The history of each record, found by (partition, record id): `events` is sorted by province, service and
-- time, so a lookup by record id would read the partition's whole history. Fed by every insert into `events`
-- (a replay inserts the same rows again; they collapse by their key, and a restore skips them by source).
CREATE TABLE IF NOT EXISTS {db}.record_history
(
    kafka_partition  UInt16,
    record_id        String,
    event_id         String,
    source           UInt64,
    service_code     LowCardinality(String),
    province_code    LowCardinality(String),
    channel          UInt8,
    online_level     LowCardinality(String),
    event_type       LowCardinality(String),
    status           UInt8,
    event_time       DateTime64(3, 'UTC'),
    is_late          Bool,
    kafka_offset     UInt64 COMMENT 'events-topic offset the event was applied from'
)
ENGINE = ReplacingMergeTree
PARTITION BY kafka_partition
ORDER BY (kafka_partition, record_id, event_id, source);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.record_history_from_events TO {db}.record_history AS
SELECT kafka_partition, record_id, event_id, source, service_code, province_code, channel, online_level,
       event_type, status, event_time, is_late, kafka_offset
FROM {db}.events;

INSERT INTO {db}.record_history
SELECT kafka_partition, record_id, event_id, source, service_code, province_code, channel, online_level,
       event_type, status, event_time, is_late, kafka_offset
FROM {db}.events;

-- Each cell row also states the cell's value before the flush that wrote it: `prev_*` held from offset
-- `prev_version` until the offset before `changed_at` (the first message of the flush that changed the
-- cell). A worker whose checkpoint lies in [prev_version, changed_at) reads the previous value from a row a
-- flush beyond its checkpoint wrote. Rows written before this migration read prev_version = changed_at = 0:
-- never used. The views read named columns, so their meaning does not change.
ALTER TABLE {db}.agg_minute_partial
    ADD COLUMN IF NOT EXISTS prev_version UInt64 DEFAULT 0 COMMENT 'offset from which the prev_* values held',
    ADD COLUMN IF NOT EXISTS changed_at UInt64 DEFAULT 0 COMMENT 'first offset of this flush that changed the cell',
    ADD COLUMN IF NOT EXISTS prev_submitted UInt32 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS prev_synced UInt32 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS prev_status_changes Array(UInt32) DEFAULT [];

ALTER TABLE {db}.agg_day_partial
    ADD COLUMN IF NOT EXISTS prev_version UInt64 DEFAULT 0 COMMENT 'offset from which the prev_* values held',
    ADD COLUMN IF NOT EXISTS changed_at UInt64 DEFAULT 0 COMMENT 'first offset of this flush that changed the cell',
    ADD COLUMN IF NOT EXISTS prev_submitted UInt32 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS prev_synced UInt32 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS prev_status_changes Array(UInt32) DEFAULT [];
