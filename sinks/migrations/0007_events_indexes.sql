-- Lookups in the history that do not follow its sorting key: one record's events (record_id) and the late
-- events (is_late, rare). Data-skipping indexes let v_events read the granules that can hold them instead of
-- the whole history. Built for the parts already stored before the migration ends.
--
-- v_events reads `events` FINAL. With FINAL, ClickHouse by default widens the granules an index selects to
-- every granule that may hold another version of a selected row (exact mode); here that is not needed: the
-- versions of one history row differ only in processed_at (a replay writes the same values), so a granule
-- holding any version of a matching row matches the same record_id / is_late and is selected by the index
-- itself. See sinks/SCHEMA.md, "Rollups" and "Costs and limits".

ALTER TABLE {db}.events
    ADD INDEX IF NOT EXISTS record_id_bloom record_id TYPE bloom_filter(0.01) GRANULARITY 1,
    ADD INDEX IF NOT EXISTS is_late_minmax is_late TYPE minmax GRANULARITY 1;

ALTER TABLE {db}.events MATERIALIZE INDEX record_id_bloom SETTINGS mutations_sync = 1;

ALTER TABLE {db}.events MATERIALIZE INDEX is_late_minmax SETTINGS mutations_sync = 1;

CREATE OR REPLACE VIEW {db}.v_events AS
SELECT
    event_id, record_id, procedure_code, service_code, province_code, province_code_original, agency_code,
    channel, online_level, event_type, status, event_time, due_date, paid_online, applicant_hash, is_late,
    processed_at
FROM {db}.events FINAL
SETTINGS use_skip_indexes_if_final = 1, use_skip_indexes_if_final_exact_mode = 0;
