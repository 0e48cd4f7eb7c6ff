-- The optional Decision 766/QĐ-TTg facts of an event (issue 15; models.filing_event.INDEX_766_FIELDS), stored
-- as sent: NULL when the event does not state the fact (a v1 event states none), so rows written before this
-- migration read NULL and mean exactly that. The rules that read them are in models/index_766.py and, in SQL,
-- 0011_index_766_views.sql.
--
-- Only `events` gets them. `record_history` (0009) is the restore's lookup by (partition, record id) and keeps
-- the columns counting needs; the 766 views group every stored event by record anyway (a full read of the
-- history, see sinks/VIEWS.md), so a copy in record_history would not make them cheaper, and changing its
-- materialized view's SELECT would mean re-creating the view.

ALTER TABLE {db}.events
    ADD COLUMN IF NOT EXISTS fee_required Nullable(Bool)
        COMMENT '766: the dossier carries a non-zero fee (3.5b, 3.6); NULL: not stated',
    ADD COLUMN IF NOT EXISTS requires_written_result Nullable(Bool)
        COMMENT '766: the procedure must return a written result (3.3, 4.1, 4.2); NULL: not stated',
    ADD COLUMN IF NOT EXISTS result_electronic Nullable(Bool)
        COMMENT '766: an electronic result was issued (3.3, 4.1, 4.2); NULL: not stated',
    ADD COLUMN IF NOT EXISTS digitized_components Nullable(Bool)
        COMMENT '766: files attached to the dossier components (4.2); NULL: not stated',
    ADD COLUMN IF NOT EXISTS reused_data Nullable(Bool)
        COMMENT '766: a component reuses digitised data (4.3); NULL: not stated',
    ADD COLUMN IF NOT EXISTS personal_store Nullable(Bool)
        COMMENT '766: linked to the citizen personal data store (4.4); NULL: not stated',
    ADD COLUMN IF NOT EXISTS population_data Nullable(Bool)
        COMMENT '766: VNeID or population-DB data used (4.5b); NULL: not stated',
    ADD COLUMN IF NOT EXISTS satisfaction_rating LowCardinality(Nullable(String))
        COMMENT '766: satisfied, neutral or dissatisfied (5.4); NULL: not stated',
    ADD COLUMN IF NOT EXISTS complaint Nullable(Bool)
        COMMENT '766: a complaint (PAKN) about this dossier was received (5.4); NULL: not stated';

CREATE OR REPLACE VIEW {db}.v_events AS
SELECT
    event_id, record_id, procedure_code, service_code, province_code, province_code_original, agency_code,
    channel, online_level, event_type, status, event_time, due_date, paid_online, applicant_hash, is_late,
    processed_at, fee_required, requires_written_result, result_electronic, digitized_components, reused_data,
    personal_store, population_data, satisfaction_rating, complaint
FROM {db}.events FINAL
SETTINGS use_skip_indexes_if_final = 1, use_skip_indexes_if_final_exact_mode = 0;
