-- Partition state is now fed by the events topic itself (streams.ingest): an event found on a partition
-- other than its record's is forwarded there in the same topic, so offsets in `events`, `resends` and
-- `checkpoints` are events-topic offsets, and the lateness clock of each partition is checkpointed.
-- Rows written under the records-topic layout (layout 1) cannot be continued: the worker refuses them.

ALTER TABLE {db}.checkpoints
    ADD COLUMN IF NOT EXISTS clock DateTime64(3, 'UTC') DEFAULT 0
        COMMENT 'newest event time read from the partition (forwarded events aside): the lateness clock',
    ADD COLUMN IF NOT EXISTS layout UInt8 DEFAULT 1
        COMMENT '1: offsets of the retired records topic, 2: events-topic offsets',
    COMMENT COLUMN version 'last events-topic offset applied and written';

ALTER TABLE {db}.events
    COMMENT COLUMN kafka_offset 'events-topic offset of the message the event was applied from';

ALTER TABLE {db}.resends
    COMMENT COLUMN kafka_offset 'events-topic offset the re-send was seen at';

CREATE OR REPLACE VIEW {db}.v_pipeline AS
SELECT kafka_partition, version AS events_offset, watermark, clock, processed, duplicates, late, updated_at
FROM {db}.checkpoints FINAL;
