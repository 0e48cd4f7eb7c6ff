-- Core tables. Writers upsert partition-local rows keyed by the internal records-topic partition and
-- versioned by its offset, so a replay after a crash rewrites the same rows (see sinks/SCHEMA.md).

CREATE TABLE IF NOT EXISTS {db}.events
(
    event_id               String,
    record_id              String,
    procedure_code         LowCardinality(String),
    service_code           LowCardinality(String),
    province_code          LowCardinality(String),
    province_code_original LowCardinality(String) COMMENT 'legacy 63-unit code as sent, empty when none',
    agency_code            LowCardinality(String),
    channel                UInt8 COMMENT '1 in person, 2 online, 3 postal',
    online_level           LowCardinality(String),
    event_type             LowCardinality(String),
    status                 UInt8,
    event_time             DateTime64(3, 'UTC'),
    due_date               Nullable(DateTime64(3, 'UTC')),
    paid_online            Nullable(Bool),
    applicant_hash         String COMMENT 'HMAC-SHA256 of the citizen id; the id itself is never stored',
    is_late                Bool COMMENT 'beyond the lateness horizon: history only, not in aggregates',
    kafka_partition        UInt16,
    kafka_offset           UInt64,
    processed_at           DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time, 'Asia/Ho_Chi_Minh')
ORDER BY (province_code, service_code, event_time, event_id);

CREATE TABLE IF NOT EXISTS {db}.record_state
(
    kafka_partition  UInt16,
    record_id        String COMMENT 'empty string marks the partition checkpoint row',
    version          UInt64 COMMENT 'records-topic offset this row reflects',
    service_code     LowCardinality(String),
    province_code    LowCardinality(String),
    channel          UInt8,
    online_level     LowCardinality(String),
    submitted_at     Nullable(DateTime64(3, 'UTC')),
    synced_at        Nullable(DateTime64(3, 'UTC')),
    last_status      UInt8,
    last_event_time  DateTime64(3, 'UTC'),
    events_seen      UInt32,
    state            String COMMENT 'the processor state of this record (JSON), used to restore a partition',
    watermark        DateTime64(3, 'UTC') COMMENT 'checkpoint rows: newest event time seen in the partition',
    processed        UInt64 COMMENT 'checkpoint rows: events processed in the partition',
    duplicates       UInt64 COMMENT 'checkpoint rows: re-sent events ignored',
    late             UInt64 COMMENT 'checkpoint rows: events beyond the lateness horizon',
    updated_at       DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY kafka_partition
ORDER BY (kafka_partition, record_id);

CREATE TABLE IF NOT EXISTS {db}.agg_minute_partial
(
    minute           DateTime('UTC'),
    service_code     LowCardinality(String),
    province_code    LowCardinality(String),
    channel          UInt8,
    online_level     LowCardinality(String),
    kafka_partition  UInt16,
    version          UInt64,
    submitted        UInt32,
    synced           UInt32,
    status_changes   Array(UInt32) COMMENT 'status_changed events by status code 1..10 (index = code - 1)'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, province_code, service_code, channel, online_level, kafka_partition);

CREATE TABLE IF NOT EXISTS {db}.agg_day_partial
(
    day              Date COMMENT 'Vietnam (UTC+7) calendar day',
    service_code     LowCardinality(String),
    province_code    LowCardinality(String),
    channel          UInt8,
    online_level     LowCardinality(String),
    kafka_partition  UInt16,
    version          UInt64,
    submitted        UInt32,
    synced           UInt32,
    status_changes   Array(UInt32)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYear(day)
ORDER BY (day, province_code, service_code, channel, online_level, kafka_partition);

CREATE TABLE IF NOT EXISTS {db}.dead_letters
(
    source_topic     LowCardinality(String),
    source_partition UInt32,
    source_offset    UInt64,
    item_index       Int32 COMMENT 'position inside an envelope, -1 for a one-event message',
    reason           String,
    errors           String COMMENT 'JSON list of {field, value, reason}',
    raw              String COMMENT 'the rejected bytes, citizen ids withheld',
    received_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (source_topic, source_partition, source_offset, item_index);

CREATE TABLE IF NOT EXISTS {db}.worker_stats
(
    at               DateTime64(3, 'UTC'),
    worker           LowCardinality(String),
    topic            LowCardinality(String),
    partition        UInt32,
    position         Int64,
    end_offset       Int64,
    lag              Int64
)
ENGINE = MergeTree
ORDER BY (topic, partition, at)
TTL toDateTime(at) + INTERVAL 30 DAY;

CREATE TABLE IF NOT EXISTS {db}.provinces
(
    code String,
    name String
)
ENGINE = ReplacingMergeTree ORDER BY code;

CREATE TABLE IF NOT EXISTS {db}.services
(
    code                 String,
    no                   UInt8,
    name_vi              String,
    gloss_en             String,
    authority            String,
    online_level         String,
    typical_online_share Float64
)
ENGINE = ReplacingMergeTree ORDER BY code;

CREATE TABLE IF NOT EXISTS {db}.status_codes
(
    code    UInt8,
    name_vi String,
    name_en String
)
ENGINE = ReplacingMergeTree ORDER BY code;
