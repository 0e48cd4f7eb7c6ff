"""dashboards.macros against the expectations of the code it mirrors.

Vectors come from grafana/clickhouse-datasource pkg/macros/macros_test.go (backend macros, nested macros)
and src/data/CHDatasource.test.ts ($__conditionalAll), and from Grafana's variable formats (grafana/scenes
formatRegistry.ts), for the macros and the format the dashboards use.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dvcpulse.dashboards.macros import ALL, MacroError, QueryContext, Variable, expand_macros, interpolate, render

FROM = datetime(2014, 11, 12, 11, 45, 26, 123000, tzinfo=UTC)
TO = datetime(2015, 11, 12, 11, 45, 26, 456000, tzinfo=UTC)
CTX = QueryContext(FROM, TO, timedelta(minutes=1))


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "select * from foo where $__timeFilter(cast(sth as timestamp) )",
            "select * from foo where cast(sth as timestamp) >= toDateTime(1415792726) "
            "AND cast(sth as timestamp) <= toDateTime(1447328726)",
        ),
        (
            "select * from foo where ( date >= $__fromTime ) and ( date <= $__toTime ) limit 100",
            "select * from foo where ( date >= toDateTime(1415792726) ) "
            "and ( date <= toDateTime(1447328726) ) limit 100",
        ),
        ("$__timeInterval(col)", "toStartOfInterval(toDateTime(col), INTERVAL 60 second)"),
        ("count() / $__interval_s", "count() / 60"),
        # nested macros expand innermost first
        (
            "SELECT $__timeInterval($__fromTime) AS from_time",
            "SELECT toStartOfInterval(toDateTime(toDateTime(1415792726)), INTERVAL 60 second) AS from_time",
        ),
        (
            "select * from foo where $__timeFilter(coalesce(closed_at, $__toTime))",
            "select * from foo where coalesce(closed_at, toDateTime(1447328726)) >= toDateTime(1415792726) "
            "AND coalesce(closed_at, toDateTime(1447328726)) <= toDateTime(1447328726)",
        ),
        ("$__timeFilterX(a)", "$__timeFilterX(a)"),  # not a macro name
    ],
)  # fmt: skip
def test_backend_macros(sql: str, expected: str) -> None:
    assert expand_macros(sql, CTX) == expected


def test_interval_is_at_least_one_second_and_truncated() -> None:
    ctx = QueryContext(FROM, TO, timedelta(milliseconds=1500))
    assert expand_macros("$__interval_s $__timeInterval(c)", ctx) == (
        "1 toStartOfInterval(toDateTime(c), INTERVAL 1 second)"
    )
    assert expand_macros("$__interval_s", QueryContext(FROM, TO, timedelta(0))) == "1"


@pytest.mark.parametrize(
    "sql", ["$__timeFilter(a, b)", "$__columns(t, k, v) FROM x", "$__timeFilter_ms(t)", "$__interval", "${v:csv}"]
)
def test_wrong_arity_and_unsupported_macros_and_formats_are_errors(sql: str) -> None:
    with pytest.raises(MacroError):
        render(sql, CTX, {"v": "a"})


def test_conditional_all() -> None:
    sql = "select stuff from table where $__conditionalAll(fieldVal in ($fieldVal), $fieldVal);"
    assert interpolate(sql, {"fieldVal": Variable(ALL, options=("a", "b"))}) == "select stuff from table where 1=1;"
    assert interpolate(sql, {"fieldVal": ("a", "b")}) == "select stuff from table where fieldVal in ('a','b');"
    both = "$__conditionalAll(x in ($v), $v) and $__conditionalAll(y in (${w:singlequote}), ${w})"
    assert interpolate(both, {"v": ("1",), "w": Variable(ALL, options=("p", "q"))}) == "x in ('1') and 1=1"
    assert interpolate("$__conditionalAll(foo, $empty)", {"empty": ""}) == "1=1"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$v", "O'Hara"),  # the plugin's default: a single value stays raw
        ("${v}", "O'Hara"),
        ("[[v]]", "O'Hara"),
        ("${v:singlequote}", "'O\\'Hara'"),
        ("${m}", "'a','b'"),  # arrays: the plugin's 'a','b'
        ("${m:singlequote}", "'a','b'"),
        ("${all:singlequote}", "'p','q'"),  # All stands for every option
        ("$undefined and $__timeFilter(x)", "$undefined and $__timeFilter(x)"),  # left for later passes
    ],
)
def test_template_variables(template: str, expected: str) -> None:
    variables = {"v": Variable("O'Hara"), "m": ("a", "b"), "all": Variable(ALL, options=("p", "q"))}
    assert interpolate(template, variables) == expected


def test_render_runs_both_passes_in_grafana_order() -> None:
    sql = (
        "SELECT $__timeInterval(minute) AS time FROM t WHERE province_code = ${p:singlequote} AND $__timeFilter(minute)"
    )
    assert render(sql, CTX, {"p": "79"}) == (
        "SELECT toStartOfInterval(toDateTime(minute), INTERVAL 60 second) AS time FROM t "
        "WHERE province_code = '79' AND minute >= toDateTime(1415792726) AND minute <= toDateTime(1447328726)"
    )
    with pytest.raises(ValueError):
        QueryContext(datetime(2024, 1, 1), TO)
