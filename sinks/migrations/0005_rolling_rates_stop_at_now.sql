-- The rolling windows end at now: minutes after now (events stamped in the future by a wrong clock) are
-- in no window of the last 15 minutes, hour or day.

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
    WHERE minute >= now() - INTERVAL 1440 MINUTE AND minute >= now() - toIntervalMinute(w.1) AND minute <= now()
    GROUP BY GROUPING SETS ((window, service_code, province_code), (window, province_code), (window, service_code), (window))
);
