-- Coarse cells written by the worker (issue 14): hours, Vietnam months and Vietnam days by channel are kept by
-- the worker like the minute and day cells (streams/state.py, `Cells`; sinks/contract.py, CELL_TABLES) and
-- written with them, with the same version and `prev_*` columns. They replace the rollups of 0006, which
-- ClickHouse recomputed from stored rows on every insert (the costliest part of a flush: ~2.5x its write time).
-- All time (`v_counts_by_cell`) is summed from the month cells. View names, columns and meanings are unchanged.
-- Why the cells stay exact: sinks/SCHEMA.md, "How counts are kept" and "State on demand".

DROP VIEW IF EXISTS {db}.rollup_hour_from_minutes;
DROP VIEW IF EXISTS {db}.rollup_day_from_days;
DROP VIEW IF EXISTS {db}.rollup_day_channel_from_days;
DROP VIEW IF EXISTS {db}.rollup_month_from_days;
DROP VIEW IF EXISTS {db}.rollup_total_from_months;

CREATE TABLE IF NOT EXISTS {db}.agg_hour_partial
(
    hour                DateTime('UTC'),
    service_code        LowCardinality(String),
    province_code       LowCardinality(String),
    channel             UInt8,
    online_level        LowCardinality(String),
    kafka_partition     UInt16,
    version             UInt64,
    submitted           UInt32,
    synced              UInt32,
    status_changes      Array(UInt32) COMMENT 'status_changed events by status code 1..10 (index = code - 1)',
    prev_version        UInt64 DEFAULT 0 COMMENT 'offset from which the prev_* values held',
    changed_at          UInt64 DEFAULT 0 COMMENT 'first offset of this flush that changed the cell',
    prev_submitted      UInt32 DEFAULT 0,
    prev_synced         UInt32 DEFAULT 0,
    prev_status_changes Array(UInt32) DEFAULT []
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYear(hour)
ORDER BY (hour, province_code, service_code, channel, online_level, kafka_partition);

CREATE TABLE IF NOT EXISTS {db}.agg_month_partial
(
    month               Date COMMENT 'first day of the Vietnam (UTC+7) calendar month',
    service_code        LowCardinality(String),
    province_code       LowCardinality(String),
    channel             UInt8,
    online_level        LowCardinality(String),
    kafka_partition     UInt16,
    version             UInt64,
    submitted           UInt32,
    synced              UInt32,
    status_changes      Array(UInt32),
    prev_version        UInt64 DEFAULT 0,
    changed_at          UInt64 DEFAULT 0,
    prev_submitted      UInt32 DEFAULT 0,
    prev_synced         UInt32 DEFAULT 0,
    prev_status_changes Array(UInt32) DEFAULT []
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYear(month)
ORDER BY (province_code, service_code, channel, online_level, kafka_partition, month);

CREATE TABLE IF NOT EXISTS {db}.agg_day_channel_partial
(
    day                 Date COMMENT 'Vietnam (UTC+7) calendar day',
    service_code        LowCardinality(String) COMMENT 'always empty: these cells sum every service',
    province_code       LowCardinality(String) COMMENT 'always empty: these cells sum every province',
    channel             UInt8,
    online_level        LowCardinality(String),
    kafka_partition     UInt16,
    version             UInt64,
    submitted           UInt32,
    synced              UInt32,
    status_changes      Array(UInt32),
    prev_version        UInt64 DEFAULT 0,
    changed_at          UInt64 DEFAULT 0,
    prev_submitted      UInt32 DEFAULT 0,
    prev_synced         UInt32 DEFAULT 0,
    prev_status_changes Array(UInt32) DEFAULT []
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYear(day)
ORDER BY (day, channel, online_level, kafka_partition, province_code, service_code);

-- What was stored before: each coarse cell is the sum of the newest finer rows under it, as of the newest of
-- their versions (each finer value holds from its version on). Nothing is known of the value before that
-- version (prev_version = changed_at = 0): a worker whose checkpoint is older reads it from the history.
INSERT INTO {db}.agg_hour_partial
    (hour, service_code, province_code, channel, online_level, kafka_partition, version, submitted, synced,
     status_changes)
SELECT toStartOfHour(minute), service_code, province_code, channel, online_level, kafka_partition, max(version),
       sum(submitted), sum(synced), sumForEach(status_changes)
FROM {db}.agg_minute_partial FINAL
GROUP BY toStartOfHour(minute), service_code, province_code, channel, online_level, kafka_partition
SETTINGS max_bytes_before_external_group_by = 1000000000;

INSERT INTO {db}.agg_month_partial
    (month, service_code, province_code, channel, online_level, kafka_partition, version, submitted, synced,
     status_changes)
SELECT toStartOfMonth(day), service_code, province_code, channel, online_level, kafka_partition, max(version),
       sum(submitted), sum(synced), sumForEach(status_changes)
FROM {db}.agg_day_partial FINAL
GROUP BY toStartOfMonth(day), service_code, province_code, channel, online_level, kafka_partition;

INSERT INTO {db}.agg_day_channel_partial
    (day, service_code, province_code, channel, online_level, kafka_partition, version, submitted, synced,
     status_changes)
SELECT day, '', '', channel, online_level, kafka_partition, max(version), sum(submitted), sum(synced),
       sumForEach(status_changes)
FROM {db}.agg_day_partial FINAL
GROUP BY day, channel, online_level, kafka_partition;

-- -- views: same names, columns and meanings -----------------------------------------------------------------

CREATE OR REPLACE VIEW {db}.v_hourly AS
SELECT
    hour,
    service_code,
    province_code,
    channel,
    online_level,
    sum(submitted) AS submitted,
    sum(synced) AS synced,
    sumForEach(status_changes) AS status_changes
FROM {db}.agg_hour_partial FINAL
GROUP BY hour, service_code, province_code, channel, online_level;

CREATE OR REPLACE VIEW {db}.v_counts_by_cell AS
SELECT
    service_code,
    province_code,
    channel,
    online_level,
    sum(submitted) AS submitted,
    sum(synced) AS synced,
    arraySum(sumForEach(status_changes)) AS status_changes
FROM {db}.agg_month_partial FINAL
GROUP BY service_code, province_code, channel, online_level;

CREATE OR REPLACE VIEW {db}.v_totals AS
SELECT
    sum(n_synced) AS synced,
    sumIf(n_synced, channel = 2) AS synced_online,
    sumIf(n_synced, channel = 1) AS synced_in_person,
    sumIf(n_synced, channel = 3) AS synced_postal,
    synced_online / nullIf(synced, 0) AS synced_online_share,
    sum(n_submitted) AS submitted,
    sumIf(n_submitted, channel = 2) AS submitted_online,
    sumIf(n_submitted, channel = 1) AS submitted_in_person,
    sumIf(n_submitted, channel = 3) AS submitted_postal,
    sumIf(n_submitted, channel = 2 AND online_level IN ('full', 'partial'))
        / nullIf(sumIf(n_submitted, channel IN (1, 2) AND online_level IN ('full', 'partial')), 0) AS online_rate,
    sumIf(n_submitted, channel = 2 AND online_level = 'full')
        / nullIf(sumIf(n_submitted, channel IN (1, 2) AND online_level = 'full'), 0) AS full_online_rate,
    arraySum(sumForEach(n_status)) AS status_changes
FROM
(
    SELECT channel, online_level, submitted AS n_submitted, synced AS n_synced, status_changes AS n_status
    FROM {db}.agg_day_channel_partial FINAL
);

CREATE OR REPLACE VIEW {db}.v_cumulative_daily AS
SELECT
    day,
    synced,
    synced_online,
    submitted,
    submitted_online,
    sum(synced) OVER (ORDER BY day) AS synced_all_time,
    sum(synced_online) OVER (ORDER BY day) AS synced_online_all_time,
    sum(synced) OVER (PARTITION BY toYear(day) ORDER BY day) AS synced_year_to_date,
    sum(synced_online) OVER (PARTITION BY toYear(day) ORDER BY day) AS synced_online_year_to_date
FROM
(
    SELECT
        day,
        sum(n_synced) AS synced,
        sumIf(n_synced, channel = 2) AS synced_online,
        sum(n_submitted) AS submitted,
        sumIf(n_submitted, channel = 2) AS submitted_online
    FROM (SELECT day, channel, synced AS n_synced, submitted AS n_submitted FROM {db}.agg_day_channel_partial FINAL)
    GROUP BY day
)
ORDER BY day;

DROP TABLE IF EXISTS {db}.rollup_hour;
DROP TABLE IF EXISTS {db}.rollup_day;
DROP TABLE IF EXISTS {db}.rollup_day_channel;
DROP TABLE IF EXISTS {db}.rollup_month;
DROP TABLE IF EXISTS {db}.rollup_total;
