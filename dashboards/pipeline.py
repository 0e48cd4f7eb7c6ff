"""Sức khỏe pipeline: throughput, dead letters, late events, consumer lag and freshness."""

from __future__ import annotations

from dvcpulse.dashboards import sql
from dvcpulse.dashboards.common import base_dashboard, grid, stat_panel, table_panel, timeseries_panel
from dvcpulse.dashboards.overview import FRESHNESS_STEPS
from grafana_foundation_sdk.builders.dashboard import Dashboard

UID = "dvcpulse-pipeline"
TITLE = "Sức khỏe pipeline"

ALARM_STEPS = ((None, "green"), (1, "red"))


def build() -> Dashboard:
    return (
        base_dashboard(
            UID,
            TITLE,
            "Health of the Kafka -> faust-streaming -> ClickHouse pipeline: events processed per second, "
            "dead letters, events beyond the lateness horizon, consumer lag and data freshness.",
        )
        .with_panel(
            stat_panel(
                1,
                "Sự kiện/giây (5 phút)",
                "Events written to history per second over the last 5 minutes (by processed_at).",
                sql.PIPELINE_EVENTS_LAST_5M,
                grid(0, 0, 4, 4),
                unit="locale",
                decimals=1,
            )
        )
        .with_panel(
            stat_panel(
                2,
                "Thư chết (dead letter)",
                "Messages rejected to the dead-letter table in the time range; growth raises an alert.",
                sql.PIPELINE_DEAD_LETTERS,
                grid(4, 0, 4, 4),
                steps=ALARM_STEPS,
            )
        )
        .with_panel(
            stat_panel(
                3,
                "Sự kiện đến muộn",
                "Events older than the lateness horizon (kept in history, not counted), all partitions, since "
                "the start.",
                sql.PIPELINE_LATE_TOTAL,
                grid(8, 0, 4, 4),
                steps=((None, "green"), (1, "orange")),
            )
        )
        .with_panel(
            stat_panel(
                4,
                "Độ trễ tiêu thụ (lag)",
                "Messages not yet consumed, summed over topics and partitions (last sample of the past 5 min).",
                sql.PIPELINE_LAG_NOW,
                grid(12, 0, 4, 4),
                steps=((None, "green"), (1000, "orange"), (10000, "red")),
            )
        )
        .with_panel(
            stat_panel(
                5,
                "Độ tươi dữ liệu",
                "Age of the newest event seen by the stream processor; above 60 s raises an alert.",
                sql.FRESHNESS,
                grid(16, 0, 4, 4),
                unit="s",
                decimals=1,
                steps=FRESHNESS_STEPS,
            )
        )
        .with_panel(
            stat_panel(
                6,
                "Lần ghi gần nhất",
                "Seconds since the stream processor last wrote a partition checkpoint.",
                sql.PIPELINE_LAST_WRITE,
                grid(20, 0, 4, 4),
                unit="s",
                decimals=1,
                steps=FRESHNESS_STEPS,
            )
        )
        .with_panel(
            timeseries_panel(
                7,
                "Sự kiện vào mỗi giây",
                "Events processed per second, by processed_at (one bucket per interval).",
                sql.PIPELINE_EVENTS_PER_SECOND,
                grid(0, 4, 12, 8),
                names={"events_per_second": "Sự kiện/giây"},
            )
        )
        .with_panel(
            timeseries_panel(
                8,
                "Độ trễ tiêu thụ theo topic",
                "Consumer lag per topic: each partition's last sample in the interval, summed (worker_stats).",
                sql.PIPELINE_LAG,
                grid(12, 4, 12, 8),
                series_label="topic",
            )
        )
        .with_panel(
            timeseries_panel(
                9,
                "Thư chết theo lý do",
                "Dead letters per interval by rejection reason.",
                sql.PIPELINE_DEAD_LETTERS_BY_REASON,
                grid(0, 12, 12, 8),
                series_label="reason",
            )
        )
        .with_panel(
            timeseries_panel(
                10,
                "Sự kiện đến muộn theo thời gian",
                "Late events per interval, by processed_at.",
                sql.PIPELINE_LATE_EVENTS,
                grid(12, 12, 12, 8),
                names={"late_events": "Sự kiện đến muộn"},
            )
        )
        .with_panel(
            table_panel(
                11,
                "Thư chết gần nhất",
                "The latest dead letters in the time range (citizen identifiers are withheld at ingest).",
                sql.PIPELINE_DEAD_LETTER_LIST,
                grid(0, 20, 14, 10),
                names={
                    "received_at": "Thời điểm nhận",
                    "source_topic": "Topic",
                    "source_partition": "Phân vùng",
                    "source_offset": "Offset",
                    "reason": "Lý do",
                    "errors": "Chi tiết lỗi",
                },
            )
        )
        .with_panel(
            table_panel(
                12,
                "Phân vùng xử lý",
                "Per events-topic partition checkpoint: offset, watermark and counters (v_pipeline).",
                sql.PIPELINE_PARTITIONS,
                grid(14, 20, 10, 10),
                names={
                    "kafka_partition": "Phân vùng",
                    "events_offset": "Offset",
                    "watermark": "Mốc thời gian",
                    "processed": "Đã xử lý",
                    "duplicates": "Trùng lặp",
                    "late": "Đến muộn",
                    "updated_at": "Cập nhật",
                },
            )
        )
    )
