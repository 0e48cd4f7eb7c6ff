-- Stable views for analysts and dashboards. Documented in sinks/VIEWS.md.
-- Online rate (national 766 index): online / (online + in person), received filings of procedures offered
-- online (online_level full or partial); postal (channel 3) is reported apart and not in the denominator.

CREATE OR REPLACE VIEW {db}.v_minute AS
SELECT
    minute,
    service_code,
    province_code,
    channel,
    online_level,
    sum(submitted) AS submitted,
    sum(synced) AS synced,
    sumForEach(status_changes) AS status_changes
FROM {db}.agg_minute_partial FINAL
GROUP BY minute, service_code, province_code, channel, online_level;

CREATE OR REPLACE VIEW {db}.v_daily AS
SELECT
    day,
    service_code,
    province_code,
    channel,
    online_level,
    sum(submitted) AS submitted,
    sum(synced) AS synced,
    sumForEach(status_changes) AS status_changes
FROM {db}.agg_day_partial FINAL
GROUP BY day, service_code, province_code, channel, online_level;

CREATE OR REPLACE VIEW {db}.v_status_minute AS
SELECT minute, service_code, province_code, channel, online_level, toUInt8(status) AS status, transitions
FROM {db}.v_minute
ARRAY JOIN status_changes AS transitions, arrayEnumerate(status_changes) AS status
WHERE transitions > 0;

CREATE OR REPLACE VIEW {db}.v_counts_by_cell AS
SELECT
    service_code,
    province_code,
    channel,
    online_level,
    sum(submitted) AS submitted,
    sum(synced) AS synced,
    arraySum(sumForEach(status_changes)) AS status_changes
FROM {db}.v_daily
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
    FROM {db}.v_daily
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
    FROM (SELECT day, channel, synced AS n_synced, submitted AS n_submitted FROM {db}.v_daily)
    GROUP BY day
)
ORDER BY day;

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
        w.2 AS window,
        service_code,
        province_code,
        sumIf(submitted, channel = 2 AND online_level IN ('full', 'partial')) AS online,
        sumIf(submitted, channel = 1 AND online_level IN ('full', 'partial')) AS in_person,
        sumIf(submitted, channel = 3) AS postal,
        sumIf(submitted, channel = 2 AND online_level = 'full') AS full_online,
        sumIf(submitted, channel = 1 AND online_level = 'full') AS full_in_person
    FROM {db}.v_minute
    ARRAY JOIN [(15, '15m'), (60, '1h'), (1440, '24h')] AS w
    WHERE minute >= now() - INTERVAL 1440 MINUTE AND minute >= now() - toIntervalMinute(w.1)
    GROUP BY GROUPING SETS ((window, service_code, province_code), (window, province_code), (window, service_code), (window))
);

CREATE OR REPLACE VIEW {db}.v_record_state AS
SELECT
    record_id, service_code, province_code, channel, online_level, submitted_at, synced_at,
    last_status, last_event_time, events_seen, updated_at
FROM {db}.record_state FINAL
WHERE record_id != '';

CREATE OR REPLACE VIEW {db}.v_events AS
SELECT
    event_id, record_id, procedure_code, service_code, province_code, province_code_original, agency_code,
    channel, online_level, event_type, status, event_time, due_date, paid_online, applicant_hash, is_late,
    processed_at
FROM {db}.events FINAL;

CREATE OR REPLACE VIEW {db}.v_pipeline AS
SELECT
    kafka_partition,
    version AS records_offset,
    watermark,
    processed,
    duplicates,
    late,
    updated_at
FROM {db}.record_state FINAL
WHERE record_id = '';

CREATE OR REPLACE VIEW {db}.v_freshness AS
SELECT
    max(watermark) AS newest_event_time,
    dateDiff('millisecond', max(watermark), now64(3)) / 1000 AS newest_event_age_seconds,
    max(updated_at) AS last_write_at,
    dateDiff('millisecond', max(updated_at), now64(3)) / 1000 AS last_write_age_seconds,
    sum(processed) AS processed,
    sum(duplicates) AS duplicates,
    sum(late) AS late
FROM {db}.v_pipeline;

CREATE OR REPLACE VIEW {db}.v_dead_letters AS
SELECT source_topic, source_partition, source_offset, item_index, reason, errors, raw, received_at
FROM {db}.dead_letters FINAL;
