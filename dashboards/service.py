"""Dịch vụ: one service (the `service` variable) by province, its volume and its status mix."""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import common as common_models

from dvcpulse.dashboards import sql
from dvcpulse.dashboards.common import (
    ClickHouseQueryBuilder,
    base_dashboard,
    datasource,
    display_name,
    grid,
    legend,
    province_variable,
    rate_bars,
    rate_stat_panel,
    service_variable,
    stat_panel,
    timeseries_panel,
    tooltip,
)
from dvcpulse.dashboards.overview import VOLUME_COLORS, VOLUME_NAMES

UID = "dvcpulse-service"
TITLE = "Dịch vụ"


def status_mix(q: sql.Queries) -> barchart.Panel:
    return (
        barchart.Panel()
        .id(5)
        .title("Cơ cấu trạng thái hồ sơ")
        .description(
            "Status changes of this service's records in the time range, by status (status_codes names); the "
            "province filter applies ('All' = every province)."
        )
        .datasource(datasource())
        .with_target(ClickHouseQueryBuilder(q.service_status_mix))
        .grid_pos(grid(12, 13, 12, 12))
        .unit("locale")
        .x_field("status_name")
        .orientation(common_models.VizOrientation.HORIZONTAL)
        .show_value(common_models.VisibilityMode.AUTO)
        .legend(legend().show_legend(False))
        .tooltip(tooltip())
        .override_by_name("transitions", display_name("Số lần chuyển trạng thái"))
    )


def build(database: str) -> Dashboard:
    """The dashboard, its SQL reading the tables of `database`."""
    q = sql.Queries(database)
    return (
        base_dashboard(
            UID,
            TITLE,
            "One essential service: its online rate in each province, its volume by channel and the mix of "
            "record statuses. The province filter narrows volume and status mix; 'All' removes it.",
        )
        .with_variable(service_variable(q))
        .with_variable(province_variable(q, multi=True))
        .with_panel(
            stat_panel(
                1,
                "Hồ sơ tiếp nhận",
                "Filings of this service received in the time range (all channels, selected provinces).",
                q.service_received,
                grid(0, 0, 6, 4),
            )
        )
        .with_panel(
            rate_stat_panel(
                2,
                "Tỷ lệ trực tuyến",
                "Online / (online + in person) of this service's filings in the time range, selected provinces.",
                q.service_online_rate,
                grid(6, 0, 6, 4),
            )
        )
        .with_panel(
            timeseries_panel(
                3,
                "Hồ sơ tiếp nhận theo phút",
                "This service's filings per interval by channel, selected provinces.",
                q.service_volume,
                grid(12, 0, 12, 13),
                names=VOLUME_NAMES,
                colors=VOLUME_COLORS,
            )
        )
        .with_panel(
            rate_bars(
                4,
                "Tỷ lệ trực tuyến theo tỉnh/thành",
                "This service's online rate in each of the 34 provinces in the time range.",
                q.service_province_rates,
                grid(0, 4, 12, 21),
                label="province",
            )
        )
        .with_panel(status_mix(q))
    )
