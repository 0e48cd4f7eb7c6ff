"""Tỉnh/thành: one province (the `province` variable), its services and its trend against its baseline."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dvcpulse.dashboards import sql
from dvcpulse.dashboards.common import (
    POSTAL_COLOR,
    base_dashboard,
    grid,
    province_variable,
    rate_gauges,
    rate_stat_panel,
    stat_panel,
    timeseries_panel,
)
from dvcpulse.dashboards.overview import VOLUME_COLORS, VOLUME_NAMES

UID = "dvcpulse-province"
TITLE = "Tỉnh/thành"


def build(database: str) -> Dashboard:
    """The dashboard, its SQL reading the tables of `database`."""
    q = sql.Queries(database)
    return (
        base_dashboard(
            UID,
            TITLE,
            "One province: synced records, online rates in the time range, per-minute volume by channel, its "
            "services ranked by online rate, and its online rate against its own 7-day baseline.",
        )
        .with_variable(province_variable(q))
        .with_panel(
            stat_panel(
                1,
                "Hồ sơ đã đồng bộ",
                "All records of this province synced to the national portal since the start.",
                q.province_synced,
                grid(0, 0, 5, 4),
                field="synced_records",
            )
        )
        .with_panel(
            stat_panel(
                2,
                "Hồ sơ trực tuyến đã đồng bộ",
                "Synced records of this province that were filed online, since the start.",
                q.province_synced,
                grid(5, 0, 5, 4),
                field="synced_online_records",
                steps=((None, "green"),),
            )
        )
        .with_panel(
            rate_stat_panel(
                3,
                "Tỷ lệ trực tuyến",
                "Online / (online + in person) of this province's filings in the time range (procedures offered "
                "online; postal excluded).",
                q.province_online_rate,
                grid(10, 0, 5, 4),
            )
        )
        .with_panel(
            rate_stat_panel(
                4,
                "Tỷ lệ trực tuyến toàn trình",
                "The same rate for full-process online procedures only.",
                q.province_full_online_rate,
                grid(15, 0, 5, 4),
            )
        )
        .with_panel(
            stat_panel(
                5,
                "Hồ sơ qua bưu chính",
                "Postal filings of this province in the time range (not in the online rate).",
                q.province_postal,
                grid(20, 0, 4, 4),
                steps=((None, POSTAL_COLOR),),
            )
        )
        .with_panel(
            timeseries_panel(
                6,
                "Hồ sơ tiếp nhận theo phút",
                "This province's filings received per interval, by channel.",
                q.province_volume,
                grid(0, 4, 12, 9),
                names=VOLUME_NAMES,
                colors=VOLUME_COLORS,
            )
        )
        .with_panel(
            timeseries_panel(
                7,
                "Tỷ lệ trực tuyến so với nền 7 ngày",
                "Online rate per interval against the province's baseline: its rate over the 7 days before the "
                "last hour of the range (the window the rate-drop alert uses).",
                q.province_trend,
                grid(12, 4, 12, 9),
                unit="percentunit",
                names={"online_rate": "Tỷ lệ trực tuyến", "baseline_7d": "Nền 7 ngày"},
                colors={"online_rate": "green", "baseline_7d": "text"},
                min_interval="5m",
            )
        )
        .with_panel(
            rate_gauges(
                8,
                "Dịch vụ của tỉnh xếp theo tỷ lệ trực tuyến",
                "This province's services with filings in the time range, ranked by online rate.",
                q.province_service_rates,
                grid(0, 13, 24, 14),
                label="service",
            )
        )
    )
