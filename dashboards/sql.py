"""Every panel's, variable's and alert rule's SQL, as named constants so the tests can run each one.

Definitions (see sinks/migrations/0002_views.sql):
- online rate (national 766 index) = online / (online + in person) of received (submitted) filings of
  procedures offered online (online_level full or partial); postal (channel 3) is shown apart;
- full-process online rate: the same for online_level = 'full' only;
- synced records, synced online records: the figures the news reports (all time and year to date).

Tables are qualified with the database (`dvcpulse.`) so the SQL runs unchanged through the Grafana
datasource, the embedded engine and the `dvcpulse db serve` gateway. Output aliases never reuse a source
column name: ClickHouse would substitute the alias inside other aggregates of the same SELECT.
Reference tables are ReplacingMergeTree and reloaded by migrations, hence FINAL.
"""

from __future__ import annotations

import re
from textwrap import dedent

DB = "dvcpulse"
TZ = "Asia/Ho_Chi_Minh"

OFFERED_ONLINE = "online_level IN ('full', 'partial')"
ONLINE = f"sumIf(submitted, channel = 2 AND {OFFERED_ONLINE})"
RECEIVED = f"sumIf(submitted, channel IN (1, 2) AND {OFFERED_ONLINE})"
ONLINE_RATE = f"{ONLINE} / nullIf({RECEIVED}, 0)"
FULL_ONLINE_RATE = (
    "sumIf(submitted, channel = 2 AND online_level = 'full') "
    "/ nullIf(sumIf(submitted, channel IN (1, 2) AND online_level = 'full'), 0)"
)
PROVINCES = f"(SELECT code, name FROM {DB}.provinces FINAL)"
SERVICES = f"(SELECT code, name_vi FROM {DB}.services FINAL WHERE {OFFERED_ONLINE})"


def _sql(text: str) -> str:
    return "\n".join(line for line in dedent(text).strip().splitlines() if line.strip())


def _rate_by(key: str, names: str, name_column: str, label: str, where: str, *, active_only: bool = False) -> str:
    """Online rate per province or service, names from the reference table (all, or those with filings)."""
    having = "HAVING online + in_person > 0" if active_only else ""
    return _sql(f"""
        SELECT
            r.{name_column} AS {label},
            sumIf(m.submitted, m.channel = 2 AND m.{OFFERED_ONLINE}) AS online,
            sumIf(m.submitted, m.channel = 1 AND m.{OFFERED_ONLINE}) AS in_person,
            online / nullIf(online + in_person, 0) AS online_rate
        FROM {names} AS r
        LEFT JOIN
        (
            SELECT {key}, channel, online_level, submitted
            FROM {DB}.v_minute
            WHERE {where}
        ) AS m ON m.{key} = r.code
        GROUP BY r.code, r.{name_column}
        {having}
        ORDER BY online_rate DESC NULLS LAST, r.code
    """)


# Empty buckets as zeros, so a quiet minute shows as 0 instead of a line drawn across the gap.
FILL = "WITH FILL FROM toStartOfInterval($__fromTime, INTERVAL $__interval_s second) TO $__toTime STEP $__interval_s"


def _volume(where: str) -> str:
    return _sql(f"""
        SELECT
            $__timeInterval(minute) AS time,
            sumIf(submitted, channel = 2) AS online,
            sumIf(submitted, channel = 1) AS in_person,
            sumIf(submitted, channel = 3) AS postal
        FROM {DB}.v_minute
        WHERE {where}
        GROUP BY time
        ORDER BY time {FILL}
    """)


def _scalar(expression: str, alias: str, where: str) -> str:
    return _sql(f"""
        SELECT {expression} AS {alias}
        FROM {DB}.v_minute
        WHERE {where}
    """)


IN_RANGE = "$__timeFilter(minute)"
PROVINCE = "province_code = ${province:singlequote}"
SERVICE = "service_code = ${service:singlequote}"
# The service dashboard's province filter is optional: "All" drops it (the plugin's conditional macro).
SERVICE_PROVINCES = "$__conditionalAll(province_code IN (${province:singlequote}), $province)"

# -- variables --------------------------------------------------------------------------------------
# Two columns: the plugin takes the first as the value and the second as the text.
PROVINCE_OPTIONS = f"SELECT code, name FROM {DB}.provinces FINAL ORDER BY code"
SERVICE_OPTIONS = f"SELECT code, name_vi FROM {DB}.services FINAL ORDER BY no, code"

# -- Toàn quốc (national overview) ------------------------------------------------------------------
NATIONAL_SYNCED = f"SELECT synced AS synced_records FROM {DB}.v_totals"
NATIONAL_SYNCED_ONLINE = f"SELECT synced_online AS synced_online_records FROM {DB}.v_totals"
# Year to date in Vietnam's calendar; an empty year still gives one row (0) through the aggregates.
NATIONAL_SYNCED_YTD = _sql(f"""
    SELECT
        argMax(synced_year_to_date, day) AS synced_ytd,
        argMax(synced_online_year_to_date, day) AS synced_online_ytd
    FROM {DB}.v_cumulative_daily
    WHERE toYear(day) = toYear(now('{TZ}'))
""")
NATIONAL_ONLINE_RATE = _scalar(ONLINE_RATE, "online_rate", IN_RANGE)
NATIONAL_FULL_ONLINE_RATE = _scalar(FULL_ONLINE_RATE, "full_online_rate", IN_RANGE)
NATIONAL_POSTAL = _scalar("sumIf(submitted, channel = 3)", "postal", IN_RANGE)
NATIONAL_VOLUME = _volume(IN_RANGE)
NATIONAL_PROVINCE_RATES = _rate_by("province_code", PROVINCES, "name", "province", IN_RANGE)
NATIONAL_SERVICE_RATES = _rate_by("service_code", SERVICES, "name_vi", "service", IN_RANGE, active_only=True)
FRESHNESS = f"SELECT newest_event_age_seconds FROM {DB}.v_freshness"

# -- Tỉnh/thành (one province) -----------------------------------------------------------------------
PROVINCE_SYNCED = _sql(f"""
    SELECT sum(synced) AS synced_records, sumIf(synced, channel = 2) AS synced_online_records
    FROM {DB}.v_daily
    WHERE {PROVINCE}
""")
PROVINCE_ONLINE_RATE = _scalar(ONLINE_RATE, "online_rate", f"{PROVINCE} AND {IN_RANGE}")
PROVINCE_FULL_ONLINE_RATE = _scalar(FULL_ONLINE_RATE, "full_online_rate", f"{PROVINCE} AND {IN_RANGE}")
PROVINCE_POSTAL = _scalar("sumIf(submitted, channel = 3)", "postal", f"{PROVINCE} AND {IN_RANGE}")
PROVINCE_VOLUME = _volume(f"{PROVINCE} AND {IN_RANGE}")
PROVINCE_SERVICE_RATES = _rate_by(
    "service_code", SERVICES, "name_vi", "service", f"{PROVINCE} AND {IN_RANGE}", active_only=True
)
# The baseline is the 7 days before the last hour of the range, the same window the alert compares with.
PROVINCE_TREND = _sql(f"""
    WITH
    (
        SELECT {ONLINE_RATE}
        FROM {DB}.v_minute
        WHERE {PROVINCE}
            AND minute >= $__toTime - INTERVAL 7 DAY AND minute < $__toTime - INTERVAL 1 HOUR
    ) AS baseline
    SELECT
        $__timeInterval(minute) AS time,
        {ONLINE_RATE} AS online_rate,
        any(baseline) AS baseline_7d
    FROM {DB}.v_minute
    WHERE {PROVINCE} AND {IN_RANGE}
    GROUP BY time
    ORDER BY time
""")

# -- Dịch vụ (one service) ----------------------------------------------------------------------------
SERVICE_RECEIVED = _scalar("sum(submitted)", "received", f"{SERVICE} AND {SERVICE_PROVINCES} AND {IN_RANGE}")
SERVICE_ONLINE_RATE = _scalar(ONLINE_RATE, "online_rate", f"{SERVICE} AND {SERVICE_PROVINCES} AND {IN_RANGE}")
SERVICE_PROVINCE_RATES = _rate_by("province_code", PROVINCES, "name", "province", f"{SERVICE} AND {IN_RANGE}")
SERVICE_VOLUME = _volume(f"{SERVICE} AND {SERVICE_PROVINCES} AND {IN_RANGE}")
SERVICE_STATUS_MIX = _sql(f"""
    SELECT s.name_vi AS status_name, sum(t.transitions) AS transitions
    FROM {DB}.v_status_minute AS t
    INNER JOIN (SELECT code, name_vi FROM {DB}.status_codes FINAL) AS s ON s.code = t.status
    WHERE t.{SERVICE}
        AND $__conditionalAll(t.province_code IN (${{province:singlequote}}), $province)
        AND $__timeFilter(t.minute)
    GROUP BY t.status, s.name_vi
    ORDER BY t.status
""")

# -- Sức khỏe pipeline (pipeline health) --------------------------------------------------------------
PIPELINE_EVENTS_PER_SECOND = _sql(f"""
    SELECT $__timeInterval(processed_at) AS time, count() / $__interval_s AS events_per_second
    FROM {DB}.v_events
    WHERE $__timeFilter(processed_at)
    GROUP BY time
    ORDER BY time {FILL}
""")
PIPELINE_EVENTS_LAST_5M = _sql(f"""
    SELECT count() / 300 AS events_per_second
    FROM {DB}.v_events
    WHERE processed_at >= now64(3) - INTERVAL 5 MINUTE
""")
PIPELINE_DEAD_LETTERS = _sql(f"""
    SELECT count() AS dead_letters
    FROM {DB}.v_dead_letters
    WHERE $__timeFilter(received_at)
""")
PIPELINE_DEAD_LETTERS_BY_REASON = _sql(f"""
    SELECT $__timeInterval(received_at) AS time, reason, count() AS dead_letters
    FROM {DB}.v_dead_letters
    WHERE $__timeFilter(received_at)
    GROUP BY time, reason
    ORDER BY time, reason
""")
PIPELINE_DEAD_LETTER_LIST = _sql(f"""
    SELECT received_at, source_topic, source_partition, source_offset, reason, errors
    FROM {DB}.v_dead_letters
    WHERE $__timeFilter(received_at)
    ORDER BY received_at DESC, source_partition, source_offset
    LIMIT 100
""")
PIPELINE_LATE_TOTAL = f"SELECT late AS late_events FROM {DB}.v_freshness"
PIPELINE_LATE_EVENTS = _sql(f"""
    SELECT $__timeInterval(processed_at) AS time, countIf(is_late) AS late_events
    FROM {DB}.v_events
    WHERE $__timeFilter(processed_at)
    GROUP BY time
    ORDER BY time {FILL}
""")
# Lag is sampled per partition; a bucket shows each partition's last sample, summed per topic.
PIPELINE_LAG = _sql(f"""
    SELECT time, topic, sum(last_lag) AS lag_messages
    FROM
    (
        SELECT $__timeInterval(at) AS time, topic, partition, argMax(lag, at) AS last_lag
        FROM {DB}.worker_stats
        WHERE $__timeFilter(at)
        GROUP BY time, topic, partition
    )
    GROUP BY time, topic
    ORDER BY time, topic
""")
PIPELINE_LAG_NOW = _sql(f"""
    SELECT sum(last_lag) AS lag_messages
    FROM
    (
        SELECT topic, partition, argMax(lag, at) AS last_lag
        FROM {DB}.worker_stats
        WHERE at >= now64(3) - INTERVAL 5 MINUTE
        GROUP BY topic, partition
    )
""")
PIPELINE_LAST_WRITE = f"SELECT last_write_age_seconds FROM {DB}.v_freshness"
PIPELINE_PARTITIONS = _sql(f"""
    SELECT kafka_partition, events_offset, watermark, processed, duplicates, late, updated_at
    FROM {DB}.v_pipeline
    ORDER BY kafka_partition
""")


# -- alert rules --------------------------------------------------------------------------------------
def working_hours(moment: str) -> str:
    """True when the 30 minutes up to `moment` (a DateTime in Vietnam time) lie inside office hours.

    Office hours are 07:30-17:00, Monday to Friday; the check starts at 08:00 so that the quiet of the
    early morning never counts towards the 30 silent minutes. Public holidays are not known here.
    """
    minute_of_day = f"toHour({moment}) * 60 + toMinute({moment})"
    return f"toDayOfWeek({moment}) <= 5 AND {minute_of_day} >= 480 AND {minute_of_day} < 1020"


def online_rate_drop(min_filings_1h: int, min_filings_baseline: int) -> str:
    """Points by which each province's last-hour online rate is below its 7-day baseline.

    Both windows need a minimum volume, so a province with a handful of filings cannot page anyone.
    """
    return _sql(f"""
        SELECT
            h.province_code AS province_code,
            p.name AS province,
            round((b.baseline_rate - h.rate_1h) * 100, 2) AS drop_points
        FROM
        (
            SELECT province_code, online_rate AS rate_1h
            FROM {DB}.v_online_rate_rolling
            WHERE scope = 'province' AND window = '1h' AND online + in_person >= {min_filings_1h}
        ) AS h
        INNER JOIN
        (
            SELECT
                province_code,
                {ONLINE} AS online_7d,
                {RECEIVED} AS received_7d,
                online_7d / nullIf(received_7d, 0) AS baseline_rate
            FROM {DB}.v_minute
            WHERE minute >= now() - INTERVAL 7 DAY AND minute < now() - INTERVAL 1 HOUR
            GROUP BY province_code
            HAVING received_7d >= {min_filings_baseline}
        ) AS b ON b.province_code = h.province_code
        INNER JOIN {PROVINCES} AS p ON p.code = h.province_code
        ORDER BY province_code
    """)


# Events count by arrival (processed_at); the event_time bound only prunes old partitions: anything older
# than the 7-day lateness horizon is history, not a province's live feed.
ALERT_PROVINCE_SILENT = _sql(f"""
    WITH toTimeZone(now(), '{TZ}') AS local_now
    SELECT
        p.code AS province_code,
        p.name AS province,
        toUInt8(({working_hours("local_now")}) AND r.events_30m = 0) AS silent
    FROM {PROVINCES} AS p
    LEFT JOIN
    (
        SELECT province_code, count() AS events_30m
        FROM {DB}.events
        WHERE event_time >= now() - INTERVAL 7 DAY AND processed_at >= now64(3) - INTERVAL 30 MINUTE
        GROUP BY province_code
    ) AS r ON r.province_code = p.code
    ORDER BY province_code
""")
ALERT_DEAD_LETTERS = _sql(f"""
    SELECT count() AS dead_letters_15m
    FROM {DB}.v_dead_letters
    WHERE received_at >= now64(3) - INTERVAL 15 MINUTE
""")
ALERT_FRESHNESS = f"SELECT newest_event_age_seconds AS age_seconds FROM {DB}.v_freshness"

DEFAULT_MIN_FILINGS_1H = 20
DEFAULT_MIN_FILINGS_BASELINE = 50
ALERT_ONLINE_RATE_DROP = online_rate_drop(DEFAULT_MIN_FILINGS_1H, DEFAULT_MIN_FILINGS_BASELINE)


def all_queries() -> dict[str, str]:
    """Every SQL constant of this module by name (what the tests run)."""
    return {name: value for name, value in globals().items() if name.isupper() and _is_query(value)}


def _is_query(value: object) -> bool:
    # fragments (conditions, expressions, the WITH FILL clause) are not statements
    return (
        isinstance(value, str) and re.match(r"(SELECT|WITH)\s", value) is not None and not value.startswith("WITH FILL")
    )
