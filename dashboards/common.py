"""What every dashboard shares: the provisioned datasource, the ClickHouse query model, panel helpers.

The foundation SDK ships no ClickHouse query builder, so `ClickHouseQuery` is a small Dataquery
implementing the plugin's SQL-editor model (grafana/clickhouse-datasource src/types/sql.ts: editorType
"sql", rawSql, format 0 = time series, 1 = table, see src/data/utils.ts mapQueryTypeToGrafanaFormat).
Panels get explicit ids and grid positions so the built JSON never shifts between builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from grafana_foundation_sdk.builders import barchart, bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    DataSourceRef,
    DynamicConfigValue,
    FieldColorModeId,
    GridPos,
    Threshold,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from dvcpulse.dashboards import sql

DATASOURCE_UID = "dvcpulse-clickhouse"
DATASOURCE_TYPE = "grafana-clickhouse-datasource"
FOLDER = "dvcpulse"
TIMEZONE = "Asia/Ho_Chi_Minh"
REFRESH = "10s"
TIME_FROM = "now-6h"
TAGS = ["dvcpulse", "de-an-06"]

FORMAT_TIMESERIES = 0
FORMAT_TABLE = 1

# Colours shared by every chart so a channel looks the same everywhere.
ONLINE_COLOR = "green"
IN_PERSON_COLOR = "blue"
POSTAL_COLOR = "orange"


def datasource() -> DataSourceRef:
    return DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)


class ClickHouseQuery(cogvariants.Dataquery):
    """One SQL query of grafana-clickhouse-datasource, as the plugin stores it in a panel."""

    def __init__(self, raw_sql: str, ref_id: str, fmt: int) -> None:
        self.raw_sql = raw_sql
        self.ref_id = ref_id
        self.fmt = fmt

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": datasource().to_json(),
            "editorType": "sql",
            "format": self.fmt,
            "queryType": "timeseries" if self.fmt == FORMAT_TIMESERIES else "table",
            "rawSql": self.raw_sql,
            "refId": self.ref_id,
        }


class ClickHouseQueryBuilder(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, raw_sql: str, *, ref_id: str = "A", timeseries: bool = False) -> None:
        self._query = ClickHouseQuery(raw_sql, ref_id, FORMAT_TIMESERIES if timeseries else FORMAT_TABLE)

    def build(self) -> ClickHouseQuery:
        return self._query


def grid(x: int, y: int, w: int, h: int) -> GridPos:
    return GridPos(h=h, w=w, x=x, y=y)


def display_name(name: str) -> list[DynamicConfigValue]:
    return [DynamicConfigValue(id_val="displayName", value=name)]


def fixed_color(color: str) -> DynamicConfigValue:
    return DynamicConfigValue(id_val="color", value={"fixedColor": color, "mode": "fixed"})


def hidden_in_chart() -> DynamicConfigValue:
    """Keep a field in the tooltip but draw no bar for it."""
    return DynamicConfigValue(id_val="custom.hideFrom", value={"legend": True, "tooltip": False, "viz": True})


def thresholds(*steps: tuple[float | None, str]) -> dashboard_builders.ThresholdsConfig:
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for value, color in steps])
    )


def base_dashboard(uid: str, title: str, description: str) -> dashboard_builders.Dashboard:
    return (
        dashboard_builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .timezone(TIMEZONE)
        .refresh(REFRESH)
        .time(TIME_FROM, "now")
        .week_start("monday")
        .timepicker(dashboard_builders.TimePicker().refresh_intervals(["5s", "10s", "30s", "1m", "5m"]))
        .link(
            dashboard_builders.DashboardLink("Bảng điều khiển dvcpulse")
            .type(DashboardLinkType.DASHBOARDS)
            .tags(["dvcpulse"])
            .as_dropdown(True)
            .keep_time(True)
            .include_vars(False)
            .target_blank(False)
        )
    )


RATE_STEPS = ((None, "red"), (0.5, "orange"), (0.7, "green"))
PanelT = TypeVar("PanelT", stat.Panel, timeseries.Panel, barchart.Panel, bargauge.Panel, table.Panel)


def query_panel(
    panel: PanelT, panel_id: int, title: str, description: str, pos: GridPos, query: ClickHouseQueryBuilder
) -> PanelT:
    """What every panel here has: id, texts, the ClickHouse data source, its one query and its place."""
    return (
        panel.id(panel_id)
        .title(title)
        .description(description)
        .datasource(datasource())
        .with_target(query)
        .grid_pos(pos)
    )


def stat_panel(
    panel_id: int,
    title: str,
    description: str,
    sql: str,
    pos: GridPos,
    *,
    unit: str = "locale",
    decimals: int | None = None,
    steps: Sequence[tuple[float | None, str]] = ((None, "blue"),),
    field: str | None = None,
) -> stat.Panel:
    """A big number: the last value of the query's (or the named) numeric field."""
    reduce = common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)
    if field:
        reduce = reduce.fields(f"/^{field}$/")
    panel = (
        query_panel(stat.Panel(), panel_id, title, description, pos, ClickHouseQueryBuilder(sql))
        .unit(unit)
        .thresholds(thresholds(*steps))
        .reduce_options(reduce)
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .color_mode(common_models.BigValueColorMode.VALUE)
        .text_mode(common_models.BigValueTextMode.VALUE)
        .justify_mode(common_models.BigValueJustifyMode.AUTO)
        .orientation(common_models.VizOrientation.AUTO)
        .no_value("0")
    )
    return panel.decimals(decimals) if decimals is not None else panel


def rate_stat_panel(panel_id: int, title: str, description: str, sql: str, pos: GridPos) -> stat.Panel:
    """A big online rate: a percentage with one decimal, coloured by RATE_STEPS."""
    return stat_panel(panel_id, title, description, sql, pos, unit="percentunit", decimals=1, steps=RATE_STEPS)


def legend() -> common_builders.VizLegendOptions:
    return (
        common_builders.VizLegendOptions()
        .display_mode(common_models.LegendDisplayMode.LIST)
        .placement(common_models.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs([])
    )


def tooltip() -> common_builders.VizTooltipOptions:
    return (
        common_builders.VizTooltipOptions()
        .mode(common_models.TooltipDisplayMode.MULTI)
        .sort(common_models.SortOrder.NONE)
    )


def timeseries_panel(
    panel_id: int,
    title: str,
    description: str,
    sql: str,
    pos: GridPos,
    *,
    unit: str = "locale",
    names: dict[str, str] | None = None,
    colors: dict[str, str] | None = None,
    min_interval: str = "1m",
    series_label: str | None = None,
) -> timeseries.Panel:
    """A time series; `series_label` names long-format series (one per label value) after that label."""
    panel = (
        query_panel(timeseries.Panel(), panel_id, title, description, pos, ClickHouseQueryBuilder(sql, timeseries=True))
        .unit(unit)
        .interval(min_interval)
        .legend(legend())
        .tooltip(tooltip())
        .line_width(2)
        .fill_opacity(10)
        .show_points(common_models.VisibilityMode.NEVER)
        .span_nulls(False)
    )
    if series_label:
        panel = panel.display_name(f"${{__field.labels.{series_label}}}")
    for field, name in (names or {}).items():
        properties = display_name(name)
        if colors and field in colors:
            properties.append(fixed_color(colors[field]))
        panel = panel.override_by_name(field, properties)
    return panel


def rate_bars(panel_id: int, title: str, description: str, sql: str, pos: GridPos, *, label: str) -> barchart.Panel:
    """Horizontal bars of `online_rate` per `label`; the counts stay in the tooltip."""
    return (
        query_panel(barchart.Panel(), panel_id, title, description, pos, ClickHouseQueryBuilder(sql))
        .unit("percentunit")
        .min(0)
        .max(1)
        .decimals(1)
        .x_field(label)
        .orientation(common_models.VizOrientation.HORIZONTAL)
        .show_value(common_models.VisibilityMode.AUTO)
        .legend(legend().show_legend(False))
        .tooltip(tooltip())
        .color_scheme(dashboard_builders.FieldColor().mode(FieldColorModeId.CONTINUOUS_RD_YL_GR))
        .override_by_name("online_rate", display_name("Tỷ lệ trực tuyến"))
        .override_by_name("online", [*display_name("Trực tuyến"), hidden_in_chart(), unit_value("locale")])
        .override_by_name("in_person", [*display_name("Trực tiếp"), hidden_in_chart(), unit_value("locale")])
    )


def rate_gauges(panel_id: int, title: str, description: str, sql: str, pos: GridPos, *, label: str) -> bargauge.Panel:
    """One bar per row (values mode): `online_rate` named by the `label` column."""
    return (
        query_panel(bargauge.Panel(), panel_id, title, description, pos, ClickHouseQueryBuilder(sql))
        .unit("percentunit")
        .min(0)
        .max(1)
        .decimals(1)
        .reduce_options(common_builders.ReduceDataOptions().values(True).calcs([]).fields("/^online_rate$/"))
        .display_mode(common_models.BarGaugeDisplayMode.BASIC)
        .value_mode(common_models.BarGaugeValueMode.COLOR)
        .name_placement(common_models.BarGaugeNamePlacement.LEFT)
        .orientation(common_models.VizOrientation.HORIZONTAL)
        .show_unfilled(True)
        .sizing(common_models.BarGaugeSizing.AUTO)
        .color_scheme(dashboard_builders.FieldColor().mode(FieldColorModeId.CONTINUOUS_RD_YL_GR))
        .display_name(f"${{__data.fields.{label}}}")
    )


def unit_value(unit: str) -> DynamicConfigValue:
    return DynamicConfigValue(id_val="unit", value=unit)


def table_panel(
    panel_id: int, title: str, description: str, sql: str, pos: GridPos, *, names: dict[str, str]
) -> table.Panel:
    panel = (
        query_panel(table.Panel(), panel_id, title, description, pos, ClickHouseQueryBuilder(sql))
        .show_header(True)
        .cell_height(common_models.TableCellHeight.SM)
    )
    for field, name in names.items():
        panel = panel.override_by_name(field, display_name(name))
    return panel


def province_variable(q: sql.Queries, *, multi: bool = False) -> dashboard_builders.QueryVariable:
    variable = (
        dashboard_builders.QueryVariable("province")
        .label("Tỉnh/thành")
        .description("Province (34 units since 2025-07-01): code as value, name as text.")
        .datasource(datasource())
        .query(q.province_options)
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.DISABLED)
        .multi(multi)
        .include_all(multi)
        .allow_custom_value(False)
    )
    if multi:
        return variable.current(VariableOption(selected=True, text=["All"], value=["$__all"]))
    return variable.current(VariableOption(selected=True, text="Thành phố Hà Nội", value="01"))


def service_variable(q: sql.Queries) -> dashboard_builders.QueryVariable:
    return (
        dashboard_builders.QueryVariable("service")
        .label("Dịch vụ")
        .description("Essential online public service (Project 06): code as value, Vietnamese name as text.")
        .datasource(datasource())
        .query(q.service_options)
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.DISABLED)
        .multi(False)
        .include_all(False)
        .allow_custom_value(False)
        .current(VariableOption(selected=True, text="Đăng ký thường trú", value="DV03"))
    )
