"""Every panel's, variable's and alert rule's SQL, as named attributes of `Queries` so the tests can run each one.

Definitions (see sinks/migrations/0002_views.sql):
- online rate (national 766 index) = online / (online + in person) of received (submitted) filings of
  procedures offered online (online_level full or partial); postal (channel 3) is shown apart;
- full-process online rate: the same for online_level = 'full' only;
- synced records, synced online records: the figures the news reports (all time and year to date).

Tables are qualified with the database the caller names (the CLI passes DVCPULSE_CLICKHOUSE_DATABASE) so
the SQL runs unchanged through the Grafana datasource, the embedded engine and the `dvcpulse db serve`
gateway, whatever database each connects to by default. Output aliases never reuse a source column name:
ClickHouse would substitute the alias inside other aggregates of the same SELECT.
Reference tables are ReplacingMergeTree and reloaded by migrations, hence FINAL.

Cost (sinks/SCHEMA.md, "Rollups"): totals over a range read whole Vietnam days from the day cells, the other
whole hours from the hour cells and only the minutes at the range's edges from the minute cells (`_spanning`),
with FINAL and without the views' per-cell GROUP BY (`MINUTES`); all-time figures read v_totals and
v_counts_by_cell, whose cells (days by channel, months) grow slowly with the history; the pipeline panels read
the per-second write counts (`writes_per_second`, `writes_by_province`), not the history itself.
"""

from __future__ import annotations

import re
from textwrap import dedent

TZ = "Asia/Ho_Chi_Minh"

OFFERED_ONLINE = "online_level IN ('full', 'partial')"
ONLINE = f"sumIf(submitted, channel = 2 AND {OFFERED_ONLINE})"
RECEIVED = f"sumIf(submitted, channel IN (1, 2) AND {OFFERED_ONLINE})"
ONLINE_RATE = f"{ONLINE} / nullIf({RECEIVED}, 0)"
FULL_ONLINE_RATE = (
    "sumIf(submitted, channel = 2 AND online_level = 'full') "
    "/ nullIf(sumIf(submitted, channel IN (1, 2) AND online_level = 'full'), 0)"
)

# Empty buckets as zeros, so a quiet minute shows as 0 instead of a line drawn across the gap.
FILL = "WITH FILL FROM toStartOfInterval($__fromTime, INTERVAL $__interval_s second) TO $__toTime STEP $__interval_s"

IN_RANGE = "$__timeFilter(minute)"
PROVINCE = "province_code = ${province:singlequote}"
SERVICE = "service_code = ${service:singlequote}"
# The service dashboard's province filter is optional: "All" drops it (the plugin's conditional macro).
# The 766 dashboard's period: its kind (month, quarter, year) and its first day, as text.
PERIOD_KIND = "${period_kind:singlequote}"
PERIOD = "${period:singlequote}"
SERVICE_PROVINCES = "$__conditionalAll(province_code IN (${province:singlequote}), $province)"

DEFAULT_MIN_FILINGS_1H = 20
DEFAULT_MIN_FILINGS_BASELINE = 50
# 766 indicator 2.1: a province's on-time rate this month below 80 %, once 30 dossiers are judged (a few
# dossiers would make the rate swing). 80 % sits just above the national monthly onTimePct of mid-2026
# (77-82 %, /work/shared/reference/index_766.md section 2), so the alert picks out the provinces behind.
DEFAULT_ON_TIME_RATE = 0.8
DEFAULT_MIN_JUDGED = 30


# Panels that only sum counts read the cell tables (and the hour cells) with FINAL directly: the same sums as
# through v_minute, v_hourly and v_daily, whose GROUP BY per cell (summing the partitions) costs far more than
# FINAL over a range (a week of minute cells at national volume: ~1.1 s through v_minute, ~0.03 s direct).
MINUTES = "agg_minute_partial FINAL"


def _sql(text: str) -> str:
    return "\n".join(line for line in dedent(text).strip().splitlines() if line.strip())


def _spanning(db: str, columns: str, where: str, start: str, end: str, *, end_included: bool = True) -> str:
    """The minute cells whose minute is in [start, end] (or [start, end)) as a subquery of `columns`, to be
    summed: whole Vietnam days from the day cells, the other whole hours from the hour cells, the minutes at the
    edges from the minute cells. Each is read with FINAL, one row per partition (see `MINUTES`).

    A day (an hour) is whole when it starts at or after `start` and its last minute starts at or before `end`
    (before it, when `end` is excluded). `lo_day`, `lo` are the first whole day and hour, `hi_day`, `hi` the
    day and hour after the last (a day's bounds are its Vietnam midnight; no whole day: `hi_day` <= `lo_day`).
    Vietnam days are whole UTC+7 hours, so every minute of the range is counted once, and sums over the
    subquery equal those over v_minute with the same filter (a day cell is the sum of its minutes). A week
    reads about 6 days of day cells, up to 46 hours and up to 118 minutes.
    """
    last_hour = f"{end} - INTERVAL 59 MINUTE" if end_included else f"{end} - INTERVAL 3541 SECOND"
    last_day = f"{end} - INTERVAL 1439 MINUTE" if end_included else f"{end} - INTERVAL 86341 SECOND"
    lo = f"toStartOfHour({start} - INTERVAL 1 SECOND) + INTERVAL 1 HOUR"
    hi = f"toStartOfHour({last_hour}) + INTERVAL 1 HOUR"
    lo_day = f"toStartOfDay({start} - INTERVAL 1 SECOND, '{TZ}') + INTERVAL 1 DAY"
    hi_day = f"toStartOfDay({last_day}, '{TZ}') + INTERVAL 1 DAY"
    upper = "<=" if end_included else "<"
    return f"""(
            SELECT {columns}
            FROM {db}.{MINUTES}
            WHERE {where} AND minute >= {start} AND minute {upper} {end} AND (minute < {lo} OR minute >= {hi})
            UNION ALL
            SELECT {columns}
            FROM {db}.agg_hour_partial FINAL
            WHERE {where} AND hour >= {lo} AND hour < {hi} AND (hour < {lo_day} OR hour >= {hi_day})
            UNION ALL
            SELECT {columns}
            FROM {db}.agg_day_partial FINAL
            WHERE {where} AND day >= toDate({lo_day}, '{TZ}') AND day < toDate({hi_day}, '{TZ}')
        )"""


def _in_range(db: str, columns: str, where: str = "1") -> str:
    """`_spanning` over the dashboard's time range, both ends included like $__timeFilter(minute)."""
    return _spanning(db, columns, where, "$__fromTime", "$__toTime")


def _rate_by(
    db: str, key: str, names: str, name_column: str, label: str, where: str, *, active_only: bool = False
) -> str:
    """Online rate per province or service over the range, names from the reference table (all, or those with
    filings)."""
    having = "HAVING online + in_person > 0" if active_only else ""
    return _sql(f"""
        SELECT
            r.{name_column} AS {label},
            sumIf(m.submitted, m.channel = 2 AND m.{OFFERED_ONLINE}) AS online,
            sumIf(m.submitted, m.channel = 1 AND m.{OFFERED_ONLINE}) AS in_person,
            online / nullIf(online + in_person, 0) AS online_rate
        FROM {names} AS r
        LEFT JOIN {_in_range(db, f"{key}, channel, online_level, submitted", where)} AS m ON m.{key} = r.code
        GROUP BY r.code, r.{name_column}
        {having}
        ORDER BY online_rate DESC NULLS LAST, r.code
    """)


def _volume(db: str, where: str) -> str:
    return _sql(f"""
        SELECT
            $__timeInterval(minute) AS time,
            sumIf(submitted, channel = 2) AS online,
            sumIf(submitted, channel = 1) AS in_person,
            sumIf(submitted, channel = 3) AS postal
        FROM {db}.{MINUTES}
        WHERE {where}
        GROUP BY time
        ORDER BY time {FILL}
    """)


def _scalar(db: str, expression: str, alias: str, where: str = "1") -> str:
    """One figure over the range."""
    return _sql(f"""
        SELECT {expression} AS {alias}
        FROM {_in_range(db, "channel, online_level, submitted", where)}
    """)


def working_hours(moment: str) -> str:
    """True when the 30 minutes up to `moment` (a DateTime in Vietnam time) lie inside office hours.

    Office hours are 07:30-17:00, Monday to Friday; the check starts at 08:00 so that the quiet of the
    early morning never counts towards the 30 silent minutes. Public holidays are not known here.
    """
    minute_of_day = f"toHour({moment}) * 60 + toMinute({moment})"
    return f"toDayOfWeek({moment}) <= 5 AND {minute_of_day} >= 480 AND {minute_of_day} < 1020"


class Queries:
    """The SQL of every panel, variable and alert rule, reading the tables of database `db`."""

    def __init__(self, db: str) -> None:
        self.db = db
        self._provinces = f"(SELECT code, name FROM {db}.provinces FINAL)"
        services = f"(SELECT code, name_vi FROM {db}.services FINAL WHERE {OFFERED_ONLINE})"

        # -- variables ----------------------------------------------------------------------------------
        # Two columns: the plugin takes the first as the value and the second as the text.
        self.province_options = f"SELECT code, name FROM {db}.provinces FINAL ORDER BY code"
        self.service_options = f"SELECT code, name_vi FROM {db}.services FINAL ORDER BY no, code"

        # -- Toàn quốc (national overview) --------------------------------------------------------------
        self.national_synced = f"SELECT synced AS synced_records FROM {db}.v_totals"
        self.national_synced_online = f"SELECT synced_online AS synced_online_records FROM {db}.v_totals"
        # Year to date in Vietnam's calendar; an empty year still gives one row (0) through the aggregates.
        self.national_synced_ytd = _sql(f"""
            SELECT
                argMax(synced_year_to_date, day) AS synced_ytd,
                argMax(synced_online_year_to_date, day) AS synced_online_ytd
            FROM {db}.v_cumulative_daily
            WHERE toYear(day) = toYear(now('{TZ}'))
        """)
        self.national_online_rate = _scalar(db, ONLINE_RATE, "online_rate")
        self.national_full_online_rate = _scalar(db, FULL_ONLINE_RATE, "full_online_rate")
        self.national_postal = _scalar(db, "sumIf(submitted, channel = 3)", "postal")
        self.national_volume = _volume(db, IN_RANGE)
        self.national_province_rates = _rate_by(db, "province_code", self._provinces, "name", "province", "1")
        self.national_service_rates = _rate_by(
            db, "service_code", services, "name_vi", "service", "1", active_only=True
        )
        self.freshness = f"SELECT newest_event_age_seconds FROM {db}.v_freshness"

        # -- Tỉnh/thành (one province) ------------------------------------------------------------------
        # All time: the province's rows of v_counts_by_cell (the same sums as v_daily over every day).
        self.province_synced = _sql(f"""
            SELECT sum(synced) AS synced_records, sumIf(synced, channel = 2) AS synced_online_records
            FROM {db}.v_counts_by_cell
            WHERE {PROVINCE}
        """)
        self.province_online_rate = _scalar(db, ONLINE_RATE, "online_rate", PROVINCE)
        self.province_full_online_rate = _scalar(db, FULL_ONLINE_RATE, "full_online_rate", PROVINCE)
        self.province_postal = _scalar(db, "sumIf(submitted, channel = 3)", "postal", PROVINCE)
        self.province_volume = _volume(db, f"{PROVINCE} AND {IN_RANGE}")
        self.province_service_rates = _rate_by(
            db, "service_code", services, "name_vi", "service", PROVINCE, active_only=True
        )
        # The baseline is the 7 days before the last hour of the range, the same window the alert compares with.
        baseline_week = _spanning(
            db, "channel, online_level, submitted", PROVINCE,
            "$__toTime - INTERVAL 7 DAY", "$__toTime - INTERVAL 1 HOUR", end_included=False,
        )  # fmt: skip
        self.province_trend = _sql(f"""
            WITH
            (
                SELECT {ONLINE_RATE}
                FROM {baseline_week}
            ) AS baseline
            SELECT
                $__timeInterval(minute) AS time,
                {ONLINE_RATE} AS online_rate,
                any(baseline) AS baseline_7d
            FROM {db}.{MINUTES}
            WHERE {PROVINCE} AND {IN_RANGE}
            GROUP BY time
            ORDER BY time
        """)

        # -- Dịch vụ (one service) ----------------------------------------------------------------------
        in_service = f"{SERVICE} AND {SERVICE_PROVINCES}"
        self.service_received = _scalar(db, "sum(submitted)", "received", in_service)
        self.service_online_rate = _scalar(db, ONLINE_RATE, "online_rate", in_service)
        self.service_province_rates = _rate_by(db, "province_code", self._provinces, "name", "province", SERVICE)
        self.service_volume = _volume(db, f"{in_service} AND {IN_RANGE}")
        # v_status_minute's rows (status changes > 0 by code) over the range, from whole hours and edge minutes.
        self.service_status_mix = _sql(f"""
            SELECT s.name_vi AS status_name, sum(t.transitions) AS transitions
            FROM
            (
                SELECT toUInt8(code) AS status, changes AS transitions
                FROM {_in_range(db, "status_changes", in_service)}
                ARRAY JOIN status_changes AS changes, arrayEnumerate(status_changes) AS code
                WHERE changes > 0
            ) AS t
            INNER JOIN (SELECT code, name_vi FROM {db}.status_codes FINAL) AS s ON s.code = t.status
            GROUP BY t.status, s.name_vi
            ORDER BY t.status
        """)

        # -- Sức khỏe pipeline (pipeline health) --------------------------------------------------------
        # History rows written (v_events rows by processed_at), counted per second when written.
        self.pipeline_events_per_second = _sql(f"""
            SELECT $__timeInterval(second) AS time, sum(events) / $__interval_s AS events_per_second
            FROM {db}.writes_per_second
            WHERE $__timeFilter(second)
            GROUP BY time
            ORDER BY time {FILL}
        """)
        self.pipeline_events_last_5m = _sql(f"""
            SELECT sum(events) / 300 AS events_per_second
            FROM {db}.writes_per_second
            WHERE second >= now() - INTERVAL 5 MINUTE
        """)
        self.pipeline_dead_letters = _sql(f"""
            SELECT count() AS dead_letters
            FROM {db}.v_dead_letters
            WHERE $__timeFilter(received_at)
        """)
        self.pipeline_dead_letters_by_reason = _sql(f"""
            SELECT $__timeInterval(received_at) AS time, reason, count() AS dead_letters
            FROM {db}.v_dead_letters
            WHERE $__timeFilter(received_at)
            GROUP BY time, reason
            ORDER BY time, reason
        """)
        self.pipeline_dead_letter_list = _sql(f"""
            SELECT received_at, source_topic, source_partition, source_offset, reason, errors
            FROM {db}.v_dead_letters
            WHERE $__timeFilter(received_at)
            ORDER BY received_at DESC, source_partition, source_offset
            LIMIT 100
        """)
        self.pipeline_late_total = f"SELECT late AS late_events FROM {db}.v_freshness"
        self.pipeline_late_events = _sql(f"""
            SELECT $__timeInterval(second) AS time, sumIf(events, is_late) AS late_events
            FROM {db}.writes_per_second
            WHERE $__timeFilter(second)
            GROUP BY time
            ORDER BY time {FILL}
        """)
        # Lag is sampled per partition; a bucket shows each partition's last sample, summed per topic.
        self.pipeline_lag = _sql(f"""
            SELECT time, topic, sum(last_lag) AS lag_messages
            FROM
            (
                SELECT $__timeInterval(at) AS time, topic, partition, argMax(lag, at) AS last_lag
                FROM {db}.worker_stats
                WHERE $__timeFilter(at)
                GROUP BY time, topic, partition
            )
            GROUP BY time, topic
            ORDER BY time, topic
        """)
        self.pipeline_lag_now = _sql(f"""
            SELECT sum(last_lag) AS lag_messages
            FROM
            (
                SELECT topic, partition, argMax(lag, at) AS last_lag
                FROM {db}.worker_stats
                WHERE at >= now64(3) - INTERVAL 5 MINUTE
                GROUP BY topic, partition
            )
        """)
        self.pipeline_last_write = f"SELECT last_write_age_seconds FROM {db}.v_freshness"
        self.pipeline_partitions = _sql(f"""
            SELECT kafka_partition, events_offset, watermark, processed, duplicates, late, updated_at
            FROM {db}.v_pipeline
            ORDER BY kafka_partition
        """)

        # -- Chỉ số 766 (Decision 766/QĐ-TTg, the part filing events derive) --------------------------------
        # The 766 views group the whole history by record (sinks/VIEWS.md: seconds at a few hundred thousand
        # events), so each panel asks for one period of one kind; the period list reads the day cells only.
        # Periods compare as text: an empty `period` (no data yet) matches nothing instead of failing to parse.
        in_period = f"period_kind = {PERIOD_KIND} AND toString(period) = {PERIOD}"
        # A query variable needs a table: the groups table only gives the three period kinds a FROM.
        self.index_period_kinds = _sql(f"""
            SELECT kind.1 AS code, kind.2 AS name
            FROM {db}.index_766_groups FINAL
            ARRAY JOIN [('month', 'Tháng'), ('quarter', 'Quý'), ('year', 'Năm')] AS kind
            WHERE no = 1
        """)
        self.index_periods = _sql(f"""
            SELECT DISTINCT
                toString(multiIf({PERIOD_KIND} = 'month', toStartOfMonth(day),
                                 {PERIOD_KIND} = 'quarter', toStartOfQuarter(day), toStartOfYear(day))) AS code,
                multiIf({PERIOD_KIND} = 'month', formatDateTime(toDate(code), '%m/%Y'),
                        {PERIOD_KIND} = 'quarter', concat('Quý ', toString(toQuarter(toDate(code))), '/',
                                                          toString(toYear(toDate(code)))),
                        toString(toYear(toDate(code)))) AS name
            FROM {db}.agg_day_partial FINAL
            ORDER BY code DESC
        """)
        # Provinces ranked by the derivable total, each group's points beside it (stacked bars).
        self.index_ranking = _sql(f"""
            SELECT
                p.name AS province,
                sumIf(s.points, s.group_code = 'TOTAL') AS total_points,
                sumIf(s.points, s.group_code = 'CKMB') AS ckmb,
                sumIf(s.points, s.group_code = 'TDGQ') AS tdgq,
                sumIf(s.points, s.group_code = 'CLGQ') AS clgq,
                sumIf(s.points, s.group_code = 'TTTT') AS tttt,
                sumIf(s.points, s.group_code = 'MDSH') AS mdsh,
                sumIf(s.points, s.group_code = 'MDHL') AS mdhl,
                sumIf(s.scored_max, s.group_code = 'TOTAL') AS scored_max
            FROM {db}.v_766_scores AS s
            INNER JOIN {self._provinces} AS p ON p.code = s.province_code
            WHERE s.{in_period}
            GROUP BY p.code, p.name
            ORDER BY total_points DESC, p.code
        """)
        self.index_province_total = _sql(f"""
            SELECT sum(points) AS total_points, sum(scored_max) AS scored_max_points
            FROM {db}.v_766_scores
            WHERE {in_period} AND {PROVINCE} AND group_code = 'TOTAL'
        """)
        self.index_province_groups = _sql(f"""
            SELECT name_vi AS group_name, points AS group_points, scored_max AS group_scored_max,
                   max_points AS group_max, arrayStringConcat(missing, ', ') AS not_scored
            FROM {db}.v_766_scores
            WHERE {in_period} AND {PROVINCE} AND group_code != 'TOTAL'
            ORDER BY group_code
        """)
        self.index_province_indicators = _sql(f"""
            SELECT indicator AS code, name_vi AS indicator_name, dvcpulse AS derivation,
                   numerator AS indicator_numerator, denominator AS indicator_denominator,
                   unjudged AS records_unjudged, ratio AS indicator_ratio, target AS indicator_target,
                   points AS indicator_points, max_points AS indicator_max
            FROM {db}.v_766_province
            WHERE {in_period} AND {PROVINCE}
            ORDER BY length(indicator), indicator
        """)
        # Drill-down: each service and procedure of the province (3.5b: 1 per procedure with a fee dossier).
        self.index_drilldown = _sql(f"""
            SELECT
                coalesce(nullIf(s.name_vi, ''), i.service_code) AS service,
                i.procedure_code AS procedure,
                i.indicator AS code,
                i.numerator AS cell_numerator,
                i.denominator AS cell_denominator,
                i.unjudged AS cell_unjudged,
                if(i.denominator > 0, i.numerator / i.denominator, NULL) AS cell_ratio
            FROM {db}.v_766_indicators AS i
            LEFT JOIN (SELECT code, name_vi FROM {db}.services FINAL) AS s ON s.code = i.service_code
            WHERE i.{in_period} AND i.{PROVINCE} AND i.indicator != '2.2'
            ORDER BY service, procedure, length(code), code
        """)
        self.index_not_derivable = _sql(f"""
            SELECT code, name_vi AS indicator_name, max_points AS indicator_max, dvcpulse_reason AS reason
            FROM {db}.index_766_indicators FINAL
            WHERE dvcpulse = 'not'
            ORDER BY group_code, code
        """)

        # -- alert rules --------------------------------------------------------------------------------
        # Events count by arrival (processed_at, to the minute: the last 30 to 31 minutes); only events at most
        # 7 days older than their write (`recent`) count: anything older than the lateness horizon is history,
        # not a province's live feed.
        self.alert_province_silent = _sql(f"""
            WITH toTimeZone(now(), '{TZ}') AS local_now
            SELECT
                p.code AS province_code,
                p.name AS province,
                toUInt8(({working_hours("local_now")}) AND r.events_30m = 0) AS silent
            FROM {self._provinces} AS p
            LEFT JOIN
            (
                SELECT province_code, sum(events) AS events_30m
                FROM {db}.writes_by_province
                WHERE recent AND minute >= toStartOfMinute(now() - INTERVAL 30 MINUTE)
                GROUP BY province_code
            ) AS r ON r.province_code = p.code
            ORDER BY province_code
        """)
        self.alert_dead_letters = _sql(f"""
            SELECT count() AS dead_letters_15m
            FROM {db}.v_dead_letters
            WHERE received_at >= now64(3) - INTERVAL 15 MINUTE
        """)
        self.alert_freshness = f"SELECT newest_event_age_seconds AS age_seconds FROM {db}.v_freshness"
        self.alert_online_rate_drop = self.online_rate_drop(DEFAULT_MIN_FILINGS_1H, DEFAULT_MIN_FILINGS_BASELINE)
        self.alert_on_time_low = self.on_time_low(DEFAULT_ON_TIME_RATE, DEFAULT_MIN_JUDGED)

    def online_rate_drop(self, min_filings_1h: int, min_filings_baseline: int) -> str:
        """Points by which each province's last-hour online rate is below its 7-day baseline.

        Both windows need a minimum volume, so a province with a handful of filings cannot page anyone.
        """
        baseline_week = _spanning(
            self.db, "province_code, channel, online_level, submitted", "1",
            "now() - INTERVAL 7 DAY", "now() - INTERVAL 1 HOUR", end_included=False,
        )  # fmt: skip
        return _sql(f"""
            SELECT
                h.province_code AS province_code,
                p.name AS province,
                round((b.baseline_rate - h.rate_1h) * 100, 2) AS drop_points
            FROM
            (
                SELECT province_code, online_rate AS rate_1h
                FROM {self.db}.v_online_rate_rolling
                WHERE scope = 'province' AND window = '1h' AND online + in_person >= {min_filings_1h}
            ) AS h
            INNER JOIN
            (
                SELECT
                    province_code,
                    {ONLINE} AS online_7d,
                    {RECEIVED} AS received_7d,
                    online_7d / nullIf(received_7d, 0) AS baseline_rate
                FROM {baseline_week}
                GROUP BY province_code
                HAVING received_7d >= {min_filings_baseline}
            ) AS b ON b.province_code = h.province_code
            INNER JOIN {self._provinces} AS p ON p.code = h.province_code
            ORDER BY province_code
        """)

    def on_time_low(self, rate: float, min_judged: int) -> str:
        """Provinces whose 766 indicator 2.1 (on-time handling) this Vietnam month is below `rate`, with at
        least `min_judged` dossiers judged: by how many percentage points (> 0 fires)."""
        return _sql(f"""
            SELECT
                v.province_code AS province_code,
                p.name AS province,
                round(({rate} - v.ratio) * 100, 2) AS shortfall_points
            FROM {self.db}.v_766_province AS v
            INNER JOIN {self._provinces} AS p ON p.code = v.province_code
            WHERE v.period_kind = 'month' AND v.period = toStartOfMonth(toDate(now('{TZ}')))
              AND v.indicator = '2.1' AND v.denominator >= {min_judged}
            ORDER BY province_code
        """)

    def statements(self) -> dict[str, str]:
        """Every public attribute that is a statement, by name (what the tests run)."""
        return {
            name: value
            for name, value in vars(self).items()
            if not name.startswith("_") and re.match(r"(SELECT|WITH)\s", value)
        }
