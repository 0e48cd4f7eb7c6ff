"""Tỉnh/thành: one province (the `province` variable), its services and its trend against its baseline."""

from __future__ import annotations

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
from grafana_foundation_sdk.builders.dashboard import Dashboard

UID = "dvcpulse-province"
TITLE = "Tỉnh/thành"


def build() -> Dashboard:
    return (
        base_dashboard(
            UID,
            TITLE,
            "One province: synced records, online rates in the time range, per-minute volume by channel, its "
            "services ranked by online rate, and its online rate against its own 7-day baseline.",
        )
        .with_variable(province_variable())
        .with_panel(
            stat_panel(
                1,
                "Hồ sơ đã đồng bộ",
                "All records of this province synced to the national portal since the start.",
                sql.PROVINCE_SYNCED,
                grid(0, 0, 5, 4),
                field="synced_records",
            )
        )
        .with_panel(
            stat_panel(
                2,
                "Hồ sơ trực tuyến đã đồng bộ",
                "Synced records of this province that were filed online, since the start.",
                sql.PROVINCE_SYNCED,
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
                sql.PROVINCE_ONLINE_RATE,
                grid(10, 0, 5, 4),
            )
        )
        .with_panel(
            rate_stat_panel(
                4,
                "Tỷ lệ trực tuyến toàn trình",
                "The same rate for full-process online procedures only.",
                sql.PROVINCE_FULL_ONLINE_RATE,
                grid(15, 0, 5, 4),
            )
        )
        .with_panel(
            stat_panel(
                5,
                "Hồ sơ qua bưu chính",
                "Postal filings of this province in the time range (not in the online rate).",
                sql.PROVINCE_POSTAL,
                grid(20, 0, 4, 4),
                steps=((None, POSTAL_COLOR),),
            )
        )
        .with_panel(
            timeseries_panel(
                6,
                "Hồ sơ tiếp nhận theo phút",
                "This province's filings received per interval, by channel.",
                sql.PROVINCE_VOLUME,
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
                sql.PROVINCE_TREND,
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
                sql.PROVINCE_SERVICE_RATES,
                grid(0, 13, 24, 14),
                label="service",
            )
        )
    )
