-- The Decision 766/QĐ-TTg indicators that filing events derive (issue 15), computed by ClickHouse from the
-- stored events with exactly the rules of models/index_766.py (and models/index_766_facts.py for a record's
-- facts, models/index_766_scoring.py for points). See sinks/VIEWS.md for each view's meaning and formulas.
--
-- Every figure is a function of the set of stored, on-time (is_late = 0) events: copies of an event id (a
-- crash replay writes a row twice, unmerged parts keep versions) are read once, the earliest by (event time,
-- event type, status) as record_facts keeps them, and every rule orders by (event time, event id), never by
-- arrival, partition or offset. So the views are exact under duplicates, reordering, replays and any
-- partitioner, and need no FINAL.
--
-- Times are epoch milliseconds (Int64) inside the views: the rules compare and subtract instants only.
-- Periods are Vietnam-time months, quarters and years; a period still running judges open dossiers at now().
-- A record's periods run from the earliest of its receipt, start of processing and end of handling, to its
-- end of handling, or, for an open dossier, to the period holding the newest stored event: an open dossier
-- counts in 2.1 and 5.4 of every period up to the newest data, not of empty periods beyond it.

-- Reference data: the index's indicators and groups (seeds/data/index_766_*.csv, loaded by sinks.migrate).
CREATE TABLE IF NOT EXISTS {db}.index_766_groups
(
    code       String,
    no         UInt8,
    name_vi    String,
    name_en    String,
    max_points Float64
)
ENGINE = ReplacingMergeTree ORDER BY code;

CREATE TABLE IF NOT EXISTS {db}.index_766_indicators
(
    code            String,
    group_code      String,
    name_vi         String,
    name_en         String,
    target          Nullable(Float64) COMMENT 'the ratio that earns full points, when there is one',
    max_points      Nullable(Float64) COMMENT 'NULL: not published',
    scoring         String COMMENT 'linear, capped, target, target_uncapped, none, unresolved',
    if_empty        String COMMENT 'what an empty denominator scores: zero, full, unknown, fallback',
    dvcpulse        String COMMENT 'derived, partly or not (derivable from filing events)',
    dvcpulse_reason String
)
ENGINE = ReplacingMergeTree ORDER BY code;

-- One row per (period, province, service, procedure, indicator) with records in scope.
CREATE OR REPLACE VIEW {db}.v_766_indicators AS
WITH
    toInt64(toUnixTimestamp64Milli(now64(3))) AS now_ms,
    (SELECT toInt64(toUnixTimestamp64Milli(max(event_time))) FROM {db}.events WHERE NOT is_late) AS newest_ms,
    toInt64(9223372036854775807) AS never -- a supplement wait still open: min(until, never) = until
SELECT
    period_kind,
    period,
    province_code,
    service_code,
    procedure_code,
    tally.1 AS indicator,
    -- 3.5b counts procedures: 1 when the procedure has a fee dossier (paid online) in the cell, not a sum
    if(indicator = '3.5b', max(tally.2), sum(tally.2)) AS numerator,
    if(indicator = '3.5b', max(tally.3), sum(tally.3)) AS denominator,
    sum(tally.4) AS unjudged
FROM
(
    SELECT
        period_kind, period, province_code, service_code, procedure_code,
        toInt64(toUnixTimestamp(toDateTime(period, 'Asia/Ho_Chi_Minh'))) * 1000 AS ps,
        least(toInt64(toUnixTimestamp(toDateTime(addMonths(period, step), 'Asia/Ho_Chi_Minh'))) * 1000, now_ms)
            AS closing,
        -- paused(until): supplement waits before `until` (models.index_766_facts.RecordFacts.paused)
        coalesce(ps <= rcv AND rcv < closing, 0) AS received_in,
        if(isNull(requires), NULL, NOT requires OR coalesce(electronic, 0)) AS result_ok,
        -- 2.1 and 5.4: received before the closing, not finished before the start, not withdrawn unaccepted
        isNotNull(rcv) AND rcv < closing AND NOT coalesce(end_t < ps, 0) AND NOT (isNull(end_t) AND withdrawn_early)
            AS timely_scope,
        if(coalesce(end_t < closing, 0), assumeNotNull(end_t), closing) AS judged_at,
        if(isNull(due), NULL,
           if(arrayCount(s -> s < judged_at, sup_start) > 1, 0,
              judged_at <= due + arraySum(arrayMap((s, e) -> if(s < judged_at, least(judged_at, e) - s, 0),
                                                   sup_start, sup_end)))) AS verdict,
        coalesce(complaint, 0) OR coalesce(rating = 'dissatisfied', 0) AS bad,
        end_s IN (9, 10) AS completed,
        coalesce(ps <= started AND started < closing, 0) AS started_in,
        arrayJoin(arrayFilter(x -> x.5, [
            ('1.4', toFloat64(synced), 1., toUInt64(0), received_in),
            ('3.3', toFloat64(coalesce(channel = 2 AND result_ok, 0)), toFloat64(isNotNull(result_ok)),
             toUInt64(isNull(result_ok)), received_in),
            ('4.2', toFloat64(coalesce(digitized AND result_ok, 0)),
             toFloat64(isNotNull(digitized) AND isNotNull(result_ok)),
             toUInt64(isNull(digitized) OR isNull(result_ok)), received_in),
            ('4.3', toFloat64(coalesce(reused, 0)), toFloat64(isNotNull(reused)), toUInt64(isNull(reused)),
             received_in),
            ('4.4', toFloat64(coalesce(personal, 0)), toFloat64(isNotNull(personal)), toUInt64(isNull(personal)),
             received_in),
            ('4.5b', toFloat64(coalesce(population, 0)), toFloat64(isNotNull(population)),
             toUInt64(isNull(population)), received_in),
            ('2.1', toFloat64(coalesce(verdict, 0)), toFloat64(isNotNull(verdict)), toUInt64(isNull(verdict)),
             timely_scope),
            -- 5.4 per dossier: 1 - overdue - (complaint or dislike), as in 2.1's scope
            ('5.4', if(isNull(verdict), 0., 1. - (1 - assumeNotNull(verdict)) - bad), toFloat64(isNotNull(verdict)),
             toUInt64(isNull(verdict)), timely_scope),
            -- 4.1: completed in the period, procedures that must return a written result (or not stated)
            ('4.1', toFloat64(coalesce(requires, 0) AND coalesce(electronic, 0)), toFloat64(isNotNull(requires)), toUInt64(isNull(requires)),
             completed AND coalesce(ps <= end_t AND end_t < closing, 0) AND coalesce(requires, 1)),
            -- 2.2: handling seconds (calendar time minus supplement waits) of completed dossiers started here
            ('2.2', greatest(assumeNotNull(end_t) - assumeNotNull(started)
                             - arraySum(arrayMap((s, e) -> if(s < assumeNotNull(end_t),
                                                              least(assumeNotNull(end_t), e) - s, 0),
                                                 sup_start, sup_end)), 0) / 1000,
             1., toUInt64(0), started_in AND completed),
            ('3.6', toFloat64(coalesce(fee, 0) AND coalesce(paid, 0)), toFloat64(isNotNull(fee)), toUInt64(isNull(fee)),
             started_in AND coalesce(fee, 1)),
            -- 3.5b: this fee dossier's procedure, paid online or not (aggregated as procedures above)
            ('3.5b', toFloat64(coalesce(paid, 0)), 1., toUInt64(0), started_in AND coalesce(fee, 0))
        ])) AS tally
    FROM
    (
        SELECT
            *,
            arrayJoin(arrayMap(i -> addMonths(first_period, i * step),
                               range(toUInt32(intDiv(dateDiff('month', first_period, last_period), step) + 1))))
                AS period
        FROM
        (
            SELECT
                *,
                arrayJoin([('month', 1), ('quarter', 3), ('year', 12)]) AS kind,
                kind.1 AS period_kind,
                kind.2 AS step,
                arrayMap(x -> assumeNotNull(x), arrayFilter(x -> isNotNull(x), [rcv, started, end_t])) AS moments,
                toDateTime(intDiv(arrayMin(moments), 1000), 'Asia/Ho_Chi_Minh') AS lo,
                toDateTime(intDiv(if(isNull(end_t) AND isNotNull(rcv), greatest(arrayMax(moments), newest_ms),
                                     arrayMax(moments)), 1000), 'Asia/Ho_Chi_Minh') AS hi,
                multiIf(step = 1, toStartOfMonth(lo), step = 3, toStartOfQuarter(lo), toStartOfYear(lo))
                    AS first_period,
                multiIf(step = 1, toStartOfMonth(hi), step = 3, toStartOfQuarter(hi), toStartOfYear(hi))
                    AS last_period
            FROM
            (
                -- one record's facts (models.index_766_facts.record_facts)
                SELECT
                    *,
                    coalesce(acc, rcv) AS started,
                    isNotNull(wd) AND NOT coalesce(acc <= wd, 0) AS withdrawn_early,
                    -- handling end: 9, else 10, else the earliest of 8, 3 and a 7 that follows a 2
                    arraySort(arrayFilter(x -> isNotNull(x.1),
                                          [(stp, 8), (ref, 3), (if(coalesce(acc <= wd, 0), wd, NULL), 7)]))
                        AS ends,
                    multiIf(isNotNull(res), res, isNotNull(ret), ret, length(ends) > 0, ends[1].1, NULL) AS end_t,
                    multiIf(isNotNull(res), 9, isNotNull(ret), 10, length(ends) > 0, ends[1].2, 0) AS end_s,
                    arrayMap(x -> x.3, seq) AS st,
                    arrayMap(x -> x.1, seq) AS ts,
                    -- a run of status 5 is one supplement request, waiting until the next other status
                    arrayFilter(i -> st[i] = 5 AND (i = 1 OR st[i - 1] != 5), arrayEnumerate(st)) AS sup_idx,
                    arrayMap(i -> ts[i], sup_idx) AS sup_start,
                    arrayMap(i -> if((arrayFirstIndex((x, k) -> k > i AND x != 5, st, arrayEnumerate(st)) AS j) = 0,
                                     never, ts[j]), sup_idx) AS sup_end
                FROM
                (
                    SELECT
                        record_id,
                        argMin((e.4, e.5, e.6, e.7), (e.1, event_id)) AS first,
                        first.1 AS procedure_code,
                        first.2 AS service_code,
                        first.3 AS province_code,
                        first.4 AS channel,
                        minIfOrNull(e.1, e.2 = 'submitted') AS rcv,
                        toUInt8(countIf(e.2 = 'synced') > 0) AS synced,
                        minIfOrNull(e.1, e.3 = 2) AS acc,
                        minIfOrNull(e.1, e.3 = 3) AS ref,
                        minIfOrNull(e.1, e.3 = 7) AS wd,
                        minIfOrNull(e.1, e.3 = 8) AS stp,
                        minIfOrNull(e.1, e.3 = 9) AS res,
                        minIfOrNull(e.1, e.3 = 10) AS ret,
                        -- facts a record may restate: the latest statement by (event time, event id)
                        argMaxIf(e.8, (e.1, event_id), isNotNull(e.8)) AS due,
                        argMaxIf(e.9, (e.1, event_id), isNotNull(e.9)) AS paid,
                        argMaxIf(e.10, (e.1, event_id), isNotNull(e.10)) AS fee,
                        argMaxIf(e.11, (e.1, event_id), isNotNull(e.11)) AS requires,
                        argMaxIf(e.12, (e.1, event_id), isNotNull(e.12)) AS electronic,
                        argMaxIf(e.13, (e.1, event_id), isNotNull(e.13)) AS digitized,
                        argMaxIf(e.14, (e.1, event_id), isNotNull(e.14)) AS reused,
                        argMaxIf(e.15, (e.1, event_id), isNotNull(e.15)) AS personal,
                        argMaxIf(e.16, (e.1, event_id), isNotNull(e.16)) AS population,
                        argMaxIf(e.17, (e.1, event_id), isNotNull(e.17)) AS rating,
                        argMaxIf(e.18, (e.1, event_id), isNotNull(e.18)) AS complaint,
                        arraySort(groupArray((e.1, event_id, e.3))) AS seq
                    FROM
                    (
                        -- each event id once: copies keep the earliest (time, type, status), as record_facts
                        SELECT
                            record_id,
                            event_id,
                            argMin((toInt64(toUnixTimestamp64Milli(event_time)), toString(event_type), status,
                                    toString(procedure_code), toString(service_code), toString(province_code),
                                    channel, toInt64(toUnixTimestamp64Milli(due_date)), paid_online, fee_required,
                                    requires_written_result, result_electronic, digitized_components, reused_data,
                                    personal_store, population_data, toNullable(toString(satisfaction_rating)),
                                    complaint),
                                   (event_time, toString(event_type), status)) AS e
                        FROM {db}.events
                        WHERE NOT is_late
                        GROUP BY record_id, event_id
                    )
                    GROUP BY record_id
                )
            )
            WHERE length(moments) > 0
        )
    )
)
GROUP BY period_kind, period, province_code, service_code, procedure_code, indicator;

-- Per province and nationally (province_code ''), every derived indicator of a (period, province) that has
-- any record in scope, with its ratio and points (models.index_766.Totals.ratios, index_766_scoring.points).
-- 3.5b counts distinct procedures above the procedure grain: with a fee dossier (denominator), and of those
-- with one paid online (numerator); a procedure filed in several provinces counts once nationally.
CREATE OR REPLACE VIEW {db}.v_766_province AS
WITH
    sums AS
    (
        SELECT
            period_kind, period, province_code, indicator,
            if(indicator = '3.5b', toFloat64(uniqExactIf(procedure_code, numerator > 0)), sum(numerator))
                AS numerator,
            if(indicator = '3.5b', toFloat64(uniqExact(procedure_code)), sum(denominator)) AS denominator,
            sum(unjudged) AS unjudged
        FROM {db}.v_766_indicators
        GROUP BY GROUPING SETS ((period_kind, period, province_code, indicator), (period_kind, period, indicator))
    ),
    scored AS
    (
        -- every derived indicator of each (period, province), read from one pass over `sums`
        SELECT
            k.period_kind AS period_kind, k.period AS period, k.province_code AS province_code,
            i.code AS indicator, i.group_code AS group_code, i.name_vi AS name_vi, i.dvcpulse AS dvcpulse,
            arrayFirstIndex(x -> x.1 = i.code, k.found) AS at,
            if(at = 0, 0., k.found[at].2) AS numerator,
            if(at = 0, 0., k.found[at].3) AS denominator,
            if(at = 0, toUInt64(0), k.found[at].4) AS unjudged,
            if(denominator > 0, numerator / denominator, NULL) AS share,
            i.target AS target, i.max_points AS max_points, i.scoring AS scoring, i.if_empty AS if_empty
        FROM
        (
            SELECT period_kind, period, province_code, groupArray((indicator, numerator, denominator, unjudged)) AS found
            FROM sums
            GROUP BY period_kind, period, province_code
        ) AS k
        CROSS JOIN (SELECT * FROM {db}.index_766_indicators FINAL WHERE dvcpulse != 'not') AS i
    )
SELECT
    period_kind, period, province_code, indicator, group_code, name_vi, dvcpulse, numerator, denominator, unjudged,
    -- as the portal scores it: 3.3 is the online share times the 1.4 rate; 2.2 is days
    multiIf(indicator = '3.3', share * anyIf(share, indicator = '1.4')
                OVER (PARTITION BY period_kind, period, province_code),
            indicator = '2.2', share / 86400, share) AS ratio,
    target, max_points,
    multiIf(isNull(max_points) OR scoring IN ('none', 'unresolved'), NULL,
            isNull(ratio), multiIf(if_empty = 'zero', 0., if_empty = 'full', max_points, NULL),
            scoring = 'linear', max_points * greatest(ratio, 0),
            scoring = 'capped', least(max_points, max_points * greatest(ratio, 0)),
            scoring = 'target', least(max_points, max_points * greatest(ratio, 0) / target),
            scoring = 'target_uncapped', max_points * greatest(ratio, 0) / target,
            NULL) AS points
FROM scored;

-- Group scores and the total of the derivable part, per (period, province) and nationally, beside the
-- maximum the scored indicators can earn and the codes that could not be scored (models.index_766_scoring).
CREATE OR REPLACE VIEW {db}.v_766_scores AS
SELECT
    period_kind, period, province_code,
    if(grp = '', 'TOTAL', grp) AS group_code,
    if(grp = '', 'Tổng điểm (phần tính được)', any(group_name)) AS name_vi,
    sum(group_points) AS points,
    sum(group_scored_max) AS scored_max,
    if(grp = '', 100., any(group_max)) AS max_points,
    arraySort(arrayFlatten(groupArray(group_scored))) AS scored,
    arraySort(arrayFlatten(groupArray(group_missing))) AS missing
FROM
(
    SELECT
        p.period_kind AS period_kind, p.period AS period, p.province_code AS province_code,
        p.group_code AS grp, any(g.name_vi) AS group_name, any(g.max_points) AS group_max,
        sum(coalesce(p.points, 0)) AS group_points,
        sumIf(coalesce(p.max_points, 0), isNotNull(p.points)) AS group_scored_max,
        groupArrayIf(p.indicator, isNotNull(p.points)) AS group_scored,
        arrayConcat(groupArrayIf(p.indicator, isNull(p.points) AND coalesce(p.max_points, 0) > 0),
                    any(n.not_derived)) AS group_missing
    FROM {db}.v_766_province AS p
    LEFT JOIN (SELECT * FROM {db}.index_766_groups FINAL) AS g ON g.code = p.group_code
    LEFT JOIN
    (
        SELECT group_code, groupArrayIf(code, coalesce(max_points, 0) > 0) AS not_derived
        FROM {db}.index_766_indicators FINAL
        WHERE dvcpulse = 'not'
        GROUP BY group_code
    ) AS n ON n.group_code = p.group_code
    GROUP BY period_kind, period, province_code, grp
)
GROUP BY GROUPING SETS ((period_kind, period, province_code, grp), (period_kind, period, province_code));
