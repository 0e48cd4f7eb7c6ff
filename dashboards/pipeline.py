"""Sức khỏe pipeline: throughput, dead letters, late events, consumer lag and freshness."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dvcpulse.dashboards import sql
from dvcpulse.dashboards.common import base_dashboard, grid, stat_panel, table_panel, timeseries_panel
from dvcpulse.dashboards.overview import FRESHNESS_STEPS

UID = "dvcpulse-pipeline"
TITLE = "Sức khỏe pipeline"

ALARM_STEPS = ((None, "green"), (1, "red"))


def build(database: str) -> Dashboard:
    """The dashboard, its SQL reading the tables of `database`."""
    q = sql.Queries(database)
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
                q.pipeline_events_last_5m,
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
                q.pipeline_dead_letters,
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
                q.pipeline_late_total,
                grid(8, 0, 4, 4),
                steps=((None, "green"), (1, "orange")),
            )
        )
        .with_panel(
            stat_panel(
                4,
                "Độ trễ tiêu thụ (lag)",
                "Messages not yet consumed, summed over topics and partitions (last sample of the past 5 min).",
                q.pipeline_lag_now,
                grid(12, 0, 4, 4),
                steps=((None, "green"), (1000, "orange"), (10000, "red")),
            )
        )
        .with_panel(
            stat_panel(
                5,
                "Độ tươi dữ liệu",
                "Age of the newest event seen by the stream processor; above 60 s raises an alert.",
                q.freshness,
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
                q.pipeline_last_write,
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
                q.pipeline_events_per_second,
                grid(0, 4, 12, 8),
                names={"events_per_second": "Sự kiện/giây"},
            )
        )
        .with_panel(
            timeseries_panel(
                8,
                "Độ trễ tiêu thụ theo topic",
                "Consumer lag per topic: each partition's last sample in the interval, summed (worker_stats).",
                q.pipeline_lag,
                grid(12, 4, 12, 8),
                series_label="topic",
            )
        )
        .with_panel(
            timeseries_panel(
                9,
                "Thư chết theo lý do",
                "Dead letters per interval by rejection reason.",
                q.pipeline_dead_letters_by_reason,
                grid(0, 12, 12, 8),
                series_label="reason",
            )
        )
        .with_panel(
            timeseries_panel(
                10,
                "Sự kiện đến muộn theo thời gian",
                "Late events per interval, by processed_at.",
                q.pipeline_late_events,
                grid(12, 12, 12, 8),
                names={"late_events": "Sự kiện đến muộn"},
            )
        )
        .with_panel(
            table_panel(
                11,
                "Thư chết gần nhất",
                "The latest dead letters in the time range (citizen identifiers are withheld at ingest).",
                q.pipeline_dead_letter_list,
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
                q.pipeline_partitions,
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
