"""Chỉ số 766: the Decision 766/QĐ-TTg index as far as filing events derive it (sinks/VIEWS.md, v_766_*).

A period is chosen by kind (month, quarter, year) and first day, not by the time picker: the portal scores
calendar periods. Provinces ranked by the derivable total with their group points; one province's groups and
indicators (numerator, denominator, target, points); its services and procedures; and the indicators filing
events cannot derive, listed as such, never as numbers.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models.dashboard import VariableOption, VariableRefresh, VariableSort

from dvcpulse.dashboards import sql
from dvcpulse.dashboards.common import (
    ClickHouseQueryBuilder,
    base_dashboard,
    datasource,
    display_name,
    fixed_color,
    grid,
    hidden_in_chart,
    legend,
    province_variable,
    query_panel,
    stat_panel,
    table_panel,
    tooltip,
)

UID = "dvcpulse-766"
# A monthly index, computed from the history at query time (sinks/SCHEMA.md: seconds at national volume, growing
# with it): refreshed every 5 minutes, not every 10 s like the live dashboards.
REFRESH = "5m"
TITLE = "Chỉ số 766"

GROUPS = {  # column -> (group name, colour)
    "ckmb": ("Công khai, minh bạch", "blue"),
    "tdgq": ("Tiến độ giải quyết", "green"),
    "clgq": ("Dịch vụ công trực tuyến", "purple"),
    "tttt": ("Thanh toán trực tuyến", "orange"),
    "mdsh": ("Mức độ số hóa hồ sơ", "yellow"),
    "mdhl": ("Mức độ hài lòng", "red"),
}


def _variable(name: str, label: str, description: str, query: str) -> dashboard_builders.QueryVariable:
    return (
        dashboard_builders.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(datasource())
        .query(query)
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.DISABLED)
        .multi(False)
        .include_all(False)
        .allow_custom_value(False)
    )


def _ranking(q: sql.Queries) -> barchart.Panel:
    """Stacked horizontal bars: each province's group points, summing to its derivable total."""
    panel = (
        query_panel(
            barchart.Panel(),
            1,
            "Xếp hạng tỉnh theo tổng điểm (phần tính được)",
            "Provinces ranked by the points of the derivable indicators in the chosen period, stacked by group. "
            "The maximum they can reach is scored_max (about 58 of 100); the rest is not derivable from filings.",
            grid(0, 0, 14, 22),
            ClickHouseQueryBuilder(q.index_ranking),
        )
        .x_field("province")
        .orientation(common_models.VizOrientation.HORIZONTAL)
        .stacking(common_models.StackingMode.NORMAL)
        .show_value(common_models.VisibilityMode.NEVER)
        .decimals(1)
        .legend(legend())
        .tooltip(tooltip())
        .override_by_name("total_points", [*display_name("Tổng điểm"), hidden_in_chart()])
        .override_by_name("scored_max", [*display_name("Điểm tối đa tính được"), hidden_in_chart()])
    )
    for column, (name, color) in GROUPS.items():
        panel = panel.override_by_name(column, [*display_name(name), fixed_color(color)])
    return panel


def build(database: str) -> Dashboard:
    """The dashboard, its SQL reading the tables of `database`."""
    q = sql.Queries(database)
    return (
        base_dashboard(
            UID,
            TITLE,
            "Decision 766 index, the part filing events derive: provinces ranked by points, one province's "
            "groups and indicators against their targets, its services and procedures, and the indicators "
            "that filings cannot derive. Periods are Vietnam-time months, quarters or years.",
        )
        .refresh(REFRESH)
        .with_variable(
            _variable("period_kind", "Kỳ", "Period kind: month, quarter or year.", q.index_period_kinds).current(
                VariableOption(selected=True, text="Tháng", value="month")
            )
        )
        .with_variable(
            _variable("period", "Kỳ đánh giá", "The period, newest first (its first day as value).", q.index_periods)
        )
        .with_variable(province_variable(q))
        .with_panel(_ranking(q))
        .with_panel(
            stat_panel(
                2,
                "Tổng điểm của tỉnh (phần tính được)",
                "Points of the chosen province over the derivable indicators in the period.",
                q.index_province_total,
                grid(14, 0, 5, 4),
                decimals=1,
                field="total_points",
                steps=((None, "green"),),
            )
        )
        .with_panel(
            stat_panel(
                3,
                "Điểm tối đa tính được",
                "The most those indicators can earn (out of 100); the rest is not derivable from filings.",
                q.index_province_total,
                grid(19, 0, 5, 4),
                decimals=0,
                field="scored_max_points",
                steps=((None, "text"),),
            )
        )
        .with_panel(
            table_panel(
                4,
                "Điểm theo nhóm",
                "The chosen province's points per group, beside what its scored indicators can earn and the "
                "group's maximum; not_scored lists the indicators with points that could not be scored.",
                q.index_province_groups,
                grid(14, 4, 10, 8),
                names={
                    "group_name": "Nhóm",
                    "group_points": "Điểm",
                    "group_scored_max": "Tối đa tính được",
                    "group_max": "Tối đa của nhóm",
                    "not_scored": "Chưa tính được",
                },
            )
        )
        .with_panel(
            table_panel(
                5,
                "Không tính được từ hồ sơ",
                "Indicators of the index that filing events cannot derive, with the reason: shown as such, "
                "never as numbers.",
                q.index_not_derivable,
                grid(14, 12, 10, 10),
                names={"code": "Mã", "indicator_name": "Chỉ số", "indicator_max": "Điểm tối đa", "reason": "Lý do"},
            )
        )
        .with_panel(
            table_panel(
                6,
                "Chỉ số của tỉnh",
                "Each derived indicator of the chosen province: numerator and denominator (2.2: seconds over "
                "completed dossiers; 3.5b: procedures), records that could not be judged, the ratio against "
                "its target, and the points.",
                q.index_province_indicators,
                grid(0, 22, 24, 12),
                names={
                    "code": "Mã",
                    "indicator_name": "Chỉ số",
                    "derivation": "Tính từ hồ sơ",
                    "indicator_numerator": "Tử số",
                    "indicator_denominator": "Mẫu số",
                    "records_unjudged": "Không đánh giá được",
                    "indicator_ratio": "Tỷ lệ",
                    "indicator_target": "Mục tiêu",
                    "indicator_points": "Điểm",
                    "indicator_max": "Điểm tối đa",
                },
            )
        )
        .with_panel(
            table_panel(
                7,
                "Theo dịch vụ và thủ tục",
                "The chosen province's indicators per service and procedure (3.5b: 1 when the procedure had a "
                "fee-bearing dossier; 2.2 is left to the indicator table).",
                q.index_drilldown,
                grid(0, 34, 24, 14),
                names={
                    "service": "Dịch vụ",
                    "procedure": "Thủ tục",
                    "code": "Mã chỉ số",
                    "cell_numerator": "Tử số",
                    "cell_denominator": "Mẫu số",
                    "cell_unjudged": "Không đánh giá được",
                    "cell_ratio": "Tỷ lệ",
                },
            )
        )
    )
