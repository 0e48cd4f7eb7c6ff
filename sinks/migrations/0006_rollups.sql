-- Rollups: what dashboards and views read so that their cost does not grow with the history (issue 14).
-- Like the cell tables, every rollup row belongs to one events-topic partition (`kafka_partition`), and the
-- views sum the partitions after FINAL. A rollup row holds the sum of the newest row of every finer cell under
-- it in that partition, and as `version` the sum of (newest version + 1) of those rows. A materialized view
-- recomputes every rollup row an insert touches, from the inserted block and the rows already stored (read
-- through merge(), which the view does not replace with the block), and ReplacingMergeTree(version) keeps the
-- recompute that saw the most. A partition's rows are written by one writer at a time, one insert after the
-- other, so the last recompute has seen them all. Why that stays exact when flushes are re-written, replayed or
-- concurrent: sinks/SCHEMA.md, "Rollups". Writes-per-second tables for the pipeline dashboard come last.

-- -- hours (UTC), from the minute cells --------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS {db}.rollup_hour
(
    hour             DateTime('UTC'),
    service_code     LowCardinality(String),
    province_code    LowCardinality(String),
    channel          UInt8,
    online_level     LowCardinality(String),
    kafka_partition  UInt16,
    version          UInt64 COMMENT 'sum over the minute cells read of their newest version + 1',
    submitted        UInt64,
    synced           UInt64,
    status_changes   Array(UInt64)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, province_code, service_code, channel, online_level, kafka_partition);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_hour_from_minutes TO {db}.rollup_hour AS
SELECT hour, service_code, province_code, channel, online_level, kafka_partition,
       n_version AS version, n_submitted AS submitted, n_synced AS synced, n_status AS status_changes
FROM
(
    SELECT toStartOfHour(minute) AS hour, service_code, province_code, channel, online_level, kafka_partition,
           sum(cell_version + 1) AS n_version, sum(cell_submitted) AS n_submitted, sum(cell_synced) AS n_synced,
           sumForEach(cell_status) AS n_status
    FROM
    (
        SELECT minute, service_code, province_code, channel, online_level, kafka_partition,
               max(version) AS cell_version, argMax(submitted, version) AS cell_submitted,
               argMax(synced, version) AS cell_synced, argMax(status_changes, version) AS cell_status
        FROM
        (
            SELECT minute, service_code, province_code, channel, online_level, kafka_partition, version,
                   submitted, synced, status_changes
            FROM {db}.agg_minute_partial
            UNION ALL
            SELECT minute, service_code, province_code, channel, online_level, kafka_partition, version,
                   submitted, synced, status_changes
            FROM merge('{db}', '^agg_minute_partial$')
            WHERE minute >= (SELECT toStartOfHour(min(minute)) FROM {db}.agg_minute_partial)
                AND minute < (SELECT toStartOfHour(max(minute)) + INTERVAL 1 HOUR FROM {db}.agg_minute_partial)
                AND (toStartOfHour(minute), province_code, service_code, channel, online_level, kafka_partition) IN
                    (SELECT toStartOfHour(minute), province_code, service_code, channel, online_level, kafka_partition
                     FROM {db}.agg_minute_partial)
        )
        GROUP BY minute, service_code, province_code, channel, online_level, kafka_partition
    )
    GROUP BY hour, service_code, province_code, channel, online_level, kafka_partition
);

-- -- Vietnam days: the day cells again, sorted by month then cell so that a month is found by primary key ----
-- A plain copy of every row written to agg_day_partial (same key, version and values), so FINAL keeps the
-- same newest rows in both tables.

CREATE TABLE IF NOT EXISTS {db}.rollup_day
(
    day              Date COMMENT 'Vietnam (UTC+7) calendar day',
    service_code     LowCardinality(String),
    province_code    LowCardinality(String),
    channel          UInt8,
    online_level     LowCardinality(String),
    kafka_partition  UInt16,
    version          UInt64 COMMENT 'as in agg_day_partial',
    submitted        UInt32,
    synced           UInt32,
    status_changes   Array(UInt32)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYear(day)
ORDER BY (toStartOfMonth(day), province_code, service_code, channel, online_level, kafka_partition, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_day_from_days TO {db}.rollup_day AS
SELECT day, service_code, province_code, channel, online_level, kafka_partition, version, submitted, synced,
       status_changes
FROM {db}.agg_day_partial;

-- -- Vietnam days by channel and online level only (national running totals), from the day cells -----------

CREATE TABLE IF NOT EXISTS {db}.rollup_day_channel
(
    day              Date COMMENT 'Vietnam (UTC+7) calendar day',
    channel          UInt8,
    online_level     LowCardinality(String),
    kafka_partition  UInt16,
    version          UInt64 COMMENT 'sum over the day cells read of their newest version + 1',
    submitted        UInt64,
    synced           UInt64,
    status_changes   Array(UInt64)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (day, channel, online_level, kafka_partition);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_day_channel_from_days TO {db}.rollup_day_channel AS
SELECT day, channel, online_level, kafka_partition,
       n_version AS version, n_submitted AS submitted, n_synced AS synced, n_status AS status_changes
FROM
(
    SELECT day, channel, online_level, kafka_partition,
           sum(cell_version + 1) AS n_version, sum(cell_submitted) AS n_submitted, sum(cell_synced) AS n_synced,
           sumForEach(cell_status) AS n_status
    FROM
    (
        SELECT day, service_code, province_code, channel, online_level, kafka_partition,
               max(version) AS cell_version, argMax(submitted, version) AS cell_submitted,
               argMax(synced, version) AS cell_synced, argMax(status_changes, version) AS cell_status
        FROM
        (
            SELECT day, service_code, province_code, channel, online_level, kafka_partition, version,
                   submitted, synced, status_changes
            FROM {db}.agg_day_partial
            UNION ALL
            SELECT day, service_code, province_code, channel, online_level, kafka_partition, version,
                   submitted, synced, status_changes
            FROM merge('{db}', '^agg_day_partial$')
            WHERE day >= (SELECT min(day) FROM {db}.agg_day_partial)
                AND day <= (SELECT max(day) FROM {db}.agg_day_partial)
                AND (day, channel, online_level, kafka_partition) IN
                    (SELECT day, channel, online_level, kafka_partition FROM {db}.agg_day_partial)
        )
        GROUP BY day, service_code, province_code, channel, online_level, kafka_partition
    )
    GROUP BY day, channel, online_level, kafka_partition
);

-- -- Vietnam months, from the day rollup -------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS {db}.rollup_month
(
    month            Date COMMENT 'first day of the Vietnam calendar month',
    service_code     LowCardinality(String),
    province_code    LowCardinality(String),
    channel          UInt8,
    online_level     LowCardinality(String),
    kafka_partition  UInt16,
    version          UInt64 COMMENT 'sum over the rollup_day rows read of their newest version + 1',
    submitted        UInt64,
    synced           UInt64,
    status_changes   Array(UInt64)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (province_code, service_code, channel, online_level, kafka_partition, month);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_month_from_days TO {db}.rollup_month AS
SELECT month, service_code, province_code, channel, online_level, kafka_partition,
       n_version AS version, n_submitted AS submitted, n_synced AS synced, n_status AS status_changes
FROM
(
    SELECT toStartOfMonth(day) AS month, service_code, province_code, channel, online_level, kafka_partition,
           sum(cell_version + 1) AS n_version, sum(cell_submitted) AS n_submitted, sum(cell_synced) AS n_synced,
           sumForEach(cell_status) AS n_status
    FROM
    (
        SELECT day, service_code, province_code, channel, online_level, kafka_partition,
               max(version) AS cell_version, argMax(submitted, version) AS cell_submitted,
               argMax(synced, version) AS cell_synced, argMax(status_changes, version) AS cell_status
        FROM
        (
            SELECT day, service_code, province_code, channel, online_level, kafka_partition, version, submitted,
                   synced, status_changes
            FROM {db}.rollup_day
            UNION ALL
            SELECT day, service_code, province_code, channel, online_level, kafka_partition, version, submitted,
                   synced, status_changes
            FROM merge('{db}', '^rollup_day$')
            WHERE day >= (SELECT toStartOfMonth(min(day)) FROM {db}.rollup_day)
                AND day < (SELECT toStartOfMonth(max(day)) + INTERVAL 1 MONTH FROM {db}.rollup_day)
                AND (toStartOfMonth(day), province_code, service_code, channel, online_level, kafka_partition) IN
                    (SELECT toStartOfMonth(day), province_code, service_code, channel, online_level, kafka_partition
                     FROM {db}.rollup_day)
        )
        GROUP BY day, service_code, province_code, channel, online_level, kafka_partition
    )
    GROUP BY month, service_code, province_code, channel, online_level, kafka_partition
);

-- -- all time, from the month rollup -----------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS {db}.rollup_total
(
    service_code     LowCardinality(String),
    province_code    LowCardinality(String),
    channel          UInt8,
    online_level     LowCardinality(String),
    kafka_partition  UInt16,
    version          UInt64 COMMENT 'sum over the rollup_month rows read of their newest version + 1',
    submitted        UInt64,
    synced           UInt64,
    status_changes   Array(UInt64)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (province_code, service_code, channel, online_level, kafka_partition);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_total_from_months TO {db}.rollup_total AS
SELECT service_code, province_code, channel, online_level, kafka_partition,
       n_version AS version, n_submitted AS submitted, n_synced AS synced, n_status AS status_changes
FROM
(
    SELECT service_code, province_code, channel, online_level, kafka_partition,
           sum(cell_version + 1) AS n_version, sum(cell_submitted) AS n_submitted, sum(cell_synced) AS n_synced,
           sumForEach(cell_status) AS n_status
    FROM
    (
        SELECT month, service_code, province_code, channel, online_level, kafka_partition,
               max(version) AS cell_version, argMax(submitted, version) AS cell_submitted,
               argMax(synced, version) AS cell_synced, argMax(status_changes, version) AS cell_status
        FROM
        (
            SELECT month, service_code, province_code, channel, online_level, kafka_partition, version, submitted,
                   synced, status_changes
            FROM {db}.rollup_month
            UNION ALL
            SELECT month, service_code, province_code, channel, online_level, kafka_partition, version, submitted,
                   synced, status_changes
            FROM merge('{db}', '^rollup_month$')
            WHERE (province_code, service_code, channel, online_level, kafka_partition) IN
                (SELECT province_code, service_code, channel, online_level, kafka_partition FROM {db}.rollup_month)
        )
        GROUP BY month, service_code, province_code, channel, online_level, kafka_partition
    )
    GROUP BY service_code, province_code, channel, online_level, kafka_partition
);

-- -- what was stored before this migration -----------------------------------------------------------------
-- The same sums over the newest rows (FINAL) of what is stored. Inserting into rollup_day also fills
-- rollup_month and rollup_total through their views. A flush written meanwhile recomputes its rows with a
-- version at least as high, so it wins.

INSERT INTO {db}.rollup_hour
SELECT toStartOfHour(minute), service_code, province_code, channel, online_level, kafka_partition,
       sum(version + 1), sum(submitted), sum(synced), sumForEach(status_changes)
FROM {db}.agg_minute_partial FINAL
GROUP BY toStartOfHour(minute), service_code, province_code, channel, online_level, kafka_partition
SETTINGS max_bytes_before_external_group_by = 1000000000;

INSERT INTO {db}.rollup_day
SELECT day, service_code, province_code, channel, online_level, kafka_partition, version, submitted, synced,
       status_changes
FROM {db}.agg_day_partial FINAL;

INSERT INTO {db}.rollup_day_channel
SELECT day, channel, online_level, kafka_partition,
       sum(version + 1), sum(submitted), sum(synced), sumForEach(status_changes)
FROM {db}.agg_day_partial FINAL
GROUP BY day, channel, online_level, kafka_partition;

-- -- history rows written per second and per province (pipeline dashboard, silent-province alert) ----------
-- Plain counts of the rows each insert into `events` carries: a replay after a crash writes rows again and
-- they count again, as the work they are. Kept 30 days, like worker_stats.

CREATE TABLE IF NOT EXISTS {db}.writes_per_second
(
    second           DateTime('UTC') COMMENT 'when the history rows were written (events.processed_at, to the second)',
    is_late          Bool,
    events           UInt64 COMMENT 'history rows written'
)
ENGINE = SummingMergeTree
ORDER BY (second, is_late)
TTL second + INTERVAL 30 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.writes_per_second_from_events TO {db}.writes_per_second AS
SELECT toDateTime(processed_at) AS second, is_late, count() AS events
FROM {db}.events
GROUP BY second, is_late;

CREATE TABLE IF NOT EXISTS {db}.writes_by_province
(
    minute           DateTime('UTC') COMMENT 'when the history rows were written (events.processed_at, to the minute)',
    province_code    LowCardinality(String),
    recent           Bool COMMENT 'event time at most 7 days before the write',
    events           UInt64 COMMENT 'history rows written'
)
ENGINE = SummingMergeTree
ORDER BY (minute, province_code, recent)
TTL minute + INTERVAL 30 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.writes_by_province_from_events TO {db}.writes_by_province AS
SELECT toStartOfMinute(processed_at) AS minute, province_code,
       event_time >= processed_at - INTERVAL 7 DAY AS recent, count() AS events
FROM {db}.events
GROUP BY minute, province_code, recent;

INSERT INTO {db}.writes_per_second
SELECT toDateTime(processed_at), is_late, count()
FROM {db}.events
WHERE processed_at >= now64(3) - INTERVAL 30 DAY
GROUP BY toDateTime(processed_at), is_late;

INSERT INTO {db}.writes_by_province
SELECT toStartOfMinute(processed_at), province_code, event_time >= processed_at - INTERVAL 7 DAY, count()
FROM {db}.events
WHERE processed_at >= now64(3) - INTERVAL 30 DAY
GROUP BY toStartOfMinute(processed_at), province_code, event_time >= processed_at - INTERVAL 7 DAY;

-- -- views: same names, columns and meanings; new: v_hourly ----------------------------------------------

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
FROM {db}.rollup_hour FINAL
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
FROM {db}.rollup_total FINAL
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
    FROM {db}.rollup_day_channel FINAL
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
    FROM (SELECT day, channel, synced AS n_synced, submitted AS n_submitted FROM {db}.rollup_day_channel FINAL)
    GROUP BY day
)
ORDER BY day;

-- The 24-hour window reads whole hours from v_hourly and only its edges from v_minute: [now - 1440 min, lo)
-- and [hi, now], where lo is the first hour starting at or after now - 1440 min and hi the first hour whose
-- last minute starts after now. The 15-minute and 1-hour windows read v_minute. Same rows, same values.
CREATE OR REPLACE VIEW {db}.v_online_rate_rolling AS
SELECT
    window,
    multiIf(service_code = '' AND province_code = '', 'national', service_code = '', 'province',
            province_code = '', 'service', 'service_province') AS scope,
    service_code,
    province_code,
    online,
    in_person,
    postal,
    online / nullIf(online + in_person, 0) AS online_rate,
    full_online,
    full_in_person,
    full_online / nullIf(full_online + full_in_person, 0) AS full_online_rate
FROM
(
    SELECT
        window,
        service_code,
        province_code,
        sumIf(submitted, channel = 2 AND online_level IN ('full', 'partial')) AS online,
        sumIf(submitted, channel = 1 AND online_level IN ('full', 'partial')) AS in_person,
        sumIf(submitted, channel = 3) AS postal,
        sumIf(submitted, channel = 2 AND online_level = 'full') AS full_online,
        sumIf(submitted, channel = 1 AND online_level = 'full') AS full_in_person
    FROM
    (
        WITH
            toStartOfHour(now() - INTERVAL 1440 MINUTE - INTERVAL 1 SECOND) + INTERVAL 1 HOUR AS lo,
            toStartOfHour(now() - INTERVAL 59 MINUTE) + INTERVAL 1 HOUR AS hi
        SELECT service_code, province_code, channel, online_level, submitted,
               arrayFilter(w -> (w = '15m' AND minute >= now() - INTERVAL 15 MINUTE)
                                OR (w = '1h' AND minute >= now() - INTERVAL 60 MINUTE)
                                OR (w = '24h' AND (minute < lo OR minute >= hi)),
                           ['15m', '1h', '24h']) AS windows
        FROM {db}.v_minute
        WHERE minute >= now() - INTERVAL 1440 MINUTE AND minute <= now()
            AND (minute < lo OR minute >= least(hi, now() - INTERVAL 60 MINUTE))
        UNION ALL
        WITH
            toStartOfHour(now() - INTERVAL 1440 MINUTE - INTERVAL 1 SECOND) + INTERVAL 1 HOUR AS lo,
            toStartOfHour(now() - INTERVAL 59 MINUTE) + INTERVAL 1 HOUR AS hi
        SELECT service_code, province_code, channel, online_level, submitted, ['24h'] AS windows
        FROM {db}.v_hourly
        WHERE hour >= lo AND hour < hi
    )
    ARRAY JOIN windows AS window
    GROUP BY GROUPING SETS ((window, service_code, province_code), (window, province_code), (window, service_code), (window))
);
