"""Toàn quốc: the national overview (news-style totals, online rates, per-minute volume, rankings)."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dvcpulse.dashboards import sql
from dvcpulse.dashboards.common import (
    IN_PERSON_COLOR,
    ONLINE_COLOR,
    POSTAL_COLOR,
    base_dashboard,
    grid,
    rate_bars,
    rate_gauges,
    rate_stat_panel,
    stat_panel,
    timeseries_panel,
)

UID = "dvcpulse-overview"
TITLE = "Toàn quốc"

FRESHNESS_STEPS = ((None, "green"), (30, "orange"), (60, "red"))
VOLUME_NAMES = {"online": "Trực tuyến", "in_person": "Trực tiếp", "postal": "Bưu chính"}
VOLUME_COLORS = {"online": ONLINE_COLOR, "in_person": IN_PERSON_COLOR, "postal": POSTAL_COLOR}


def build(database: str) -> Dashboard:
    """The dashboard, its SQL reading the tables of `database`."""
    q = sql.Queries(database)
    return (
        base_dashboard(
            UID,
            TITLE,
            "National view of online public-service filings (Project 06): synced records as the news reports "
            "them, the 766 online rate and its full-process variant, per-minute volume by channel, and the "
            "34 provinces and the services ranked by online rate.",
        )
        .with_panel(
            stat_panel(
                1,
                "Hồ sơ đã đồng bộ",
                "All records synced to the national portal since the start (v_totals.synced).",
                q.national_synced,
                grid(0, 0, 4, 4),
            )
        )
        .with_panel(
            stat_panel(
                2,
                "Hồ sơ trực tuyến đã đồng bộ",
                "Synced records that were filed online (channel 2), since the start (v_totals.synced_online).",
                q.national_synced_online,
                grid(4, 0, 4, 4),
                steps=((None, "green"),),
            )
        )
        .with_panel(
            stat_panel(
                3,
                "Đồng bộ từ đầu năm",
                "Records synced since 1 January (Vietnam time), from v_cumulative_daily.",
                q.national_synced_ytd,
                grid(8, 0, 4, 4),
                field="synced_ytd",
            )
        )
        .with_panel(
            stat_panel(
                4,
                "Trực tuyến từ đầu năm",
                "Online records synced since 1 January (Vietnam time), from v_cumulative_daily.",
                q.national_synced_ytd,
                grid(12, 0, 4, 4),
                field="synced_online_ytd",
                steps=((None, "green"),),
            )
        )
        .with_panel(
            rate_stat_panel(
                5,
                "Tỷ lệ trực tuyến",
                "Online / (online + in person) of filings received in the time range, procedures offered online "
                "(full or partial). Postal filings are not in the denominator.",
                q.national_online_rate,
                grid(16, 0, 4, 4),
            )
        )
        .with_panel(
            rate_stat_panel(
                6,
                "Tỷ lệ trực tuyến toàn trình",
                "The same rate for full-process online procedures only (online_level = full).",
                q.national_full_online_rate,
                grid(20, 0, 4, 4),
            )
        )
        .with_panel(
            timeseries_panel(
                7,
                "Hồ sơ tiếp nhận theo phút: trực tuyến và trực tiếp",
                "Filings received per interval by channel (event time, Vietnam time axis); postal shown apart.",
                q.national_volume,
                grid(0, 4, 18, 9),
                names=VOLUME_NAMES,
                colors=VOLUME_COLORS,
            )
        )
        .with_panel(
            stat_panel(
                8,
                "Độ tươi dữ liệu",
                "Age of the newest event the stream processor has seen (v_freshness); above 60 s raises an alert.",
                q.freshness,
                grid(18, 4, 6, 4),
                unit="s",
                decimals=1,
                steps=FRESHNESS_STEPS,
            )
        )
        .with_panel(
            stat_panel(
                9,
                "Hồ sơ qua bưu chính",
                "Filings received through the public postal service in the time range; reported apart from the "
                "online rate.",
                q.national_postal,
                grid(18, 8, 6, 5),
                steps=((None, POSTAL_COLOR),),
            )
        )
        .with_panel(
            rate_bars(
                10,
                "Tỷ lệ trực tuyến theo tỉnh/thành",
                "Online rate of each of the 34 provinces in the time range; provinces without filings have no bar.",
                q.national_province_rates,
                grid(0, 13, 12, 22),
                label="province",
            )
        )
        .with_panel(
            rate_gauges(
                11,
                "Dịch vụ xếp theo tỷ lệ trực tuyến",
                "Services offered online ranked by online rate in the time range (services with filings only).",
                q.national_service_rates,
                grid(12, 13, 12, 22),
                label="service",
            )
        )
    )
