-- The worker keeps in memory only what counting needs (seen event ids, applied source messages, first
-- submitted/synced, status events) and restores it from the event history; ClickHouse keeps the summary
-- of each record itself, with a materialized view over `events`. See sinks/SCHEMA.md.

-- Which source message an applied event came from: restores tell our own replays from portal re-sends.
-- In the sorting key, so that two applied events never collapse into one row (replays of one do).
ALTER TABLE {db}.events
    ADD COLUMN IF NOT EXISTS source UInt64
        COMMENT 'hash of the source topic, partition, offset and envelope position the event was applied from',
    MODIFY ORDER BY (province_code, service_code, event_time, event_id, source);

CREATE TABLE IF NOT EXISTS {db}.resends
(
    kafka_partition  UInt16,
    record_id        String,
    source           UInt64 COMMENT 'source message of a re-sent event (an event id already applied)',
    kafka_offset     UInt64 COMMENT 'records-topic offset the re-send was seen at'
)
ENGINE = ReplacingMergeTree
PARTITION BY kafka_partition
ORDER BY (kafka_partition, record_id, source);

CREATE TABLE IF NOT EXISTS {db}.checkpoints
(
    kafka_partition  UInt16,
    version          UInt64 COMMENT 'last records-topic offset applied and written',
    watermark        DateTime64(3, 'UTC') COMMENT 'newest event time seen in the partition',
    processed        UInt64 COMMENT 'events processed in the partition (re-sends included)',
    duplicates       UInt64 COMMENT 're-sent events ignored',
    late             UInt64 COMMENT 'events beyond the lateness horizon',
    updated_at       DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY kafka_partition;

INSERT INTO {db}.checkpoints
SELECT kafka_partition, version, watermark, processed, duplicates, late, updated_at
FROM {db}.record_state FINAL
WHERE record_id = '';

DROP VIEW IF EXISTS {db}.v_record_state;

DROP TABLE IF EXISTS {db}.record_state;

-- Every aggregate here is idempotent (min, max, argMin, argMax, uniqExact): a replay that writes the same
-- history rows again changes nothing.
CREATE TABLE IF NOT EXISTS {db}.record_state
(
    record_id        String,
    attributes       AggregateFunction(argMin, Tuple(String, String, UInt8, String), Tuple(UInt8, DateTime64(3, 'UTC'), String)),
    submitted_at     AggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    synced_at        AggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    last_status      AggregateFunction(argMax, UInt8, Tuple(DateTime64(3, 'UTC'), UInt8)),
    last_event_time  SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    events_seen      AggregateFunction(uniqExact, String),
    updated_at       SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY record_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.record_state_from_events TO {db}.record_state AS
SELECT
    record_id,
    argMinState(
        (toString(service_code), toString(province_code), channel, toString(online_level)),
        (toUInt8(event_type != 'submitted' OR is_late), event_time, event_id)
    ) AS attributes,
    minState(if(event_type = 'submitted' AND NOT is_late, event_time, NULL)) AS submitted_at,
    minState(if(event_type = 'synced' AND NOT is_late, event_time, NULL)) AS synced_at,
    argMaxState(status, (event_time, status)) AS last_status,
    max(event_time) AS last_event_time,
    uniqExactState(event_id) AS events_seen,
    max(processed_at) AS updated_at
FROM {db}.events
GROUP BY record_id;

INSERT INTO {db}.record_state
SELECT
    record_id,
    argMinState(
        (toString(service_code), toString(province_code), channel, toString(online_level)),
        (toUInt8(event_type != 'submitted' OR is_late), event_time, event_id)
    ),
    minState(if(event_type = 'submitted' AND NOT is_late, event_time, NULL)),
    minState(if(event_type = 'synced' AND NOT is_late, event_time, NULL)),
    argMaxState(status, (event_time, status)),
    max(event_time),
    uniqExactState(event_id),
    max(processed_at)
FROM {db}.events FINAL
GROUP BY record_id;

CREATE OR REPLACE VIEW {db}.v_record_state AS
SELECT
    record_id,
    toLowCardinality(a.1) AS service_code,
    toLowCardinality(a.2) AS province_code,
    a.3 AS channel,
    toLowCardinality(a.4) AS online_level,
    submitted_at,
    synced_at,
    last_status,
    last_event_time,
    events_seen,
    updated_at
FROM
(
    SELECT
        record_id,
        argMinMerge(attributes) AS a,
        minMerge(submitted_at) AS submitted_at,
        minMerge(synced_at) AS synced_at,
        argMaxMerge(last_status) AS last_status,
        CAST(max(last_event_time) AS DateTime64(3, 'UTC')) AS last_event_time,
        toUInt32(uniqExactMerge(events_seen)) AS events_seen,
        CAST(max(updated_at) AS DateTime64(3, 'UTC')) AS updated_at
    FROM {db}.record_state
    GROUP BY record_id
);

CREATE OR REPLACE VIEW {db}.v_pipeline AS
SELECT kafka_partition, version AS records_offset, watermark, processed, duplicates, late, updated_at
FROM {db}.checkpoints FINAL;
