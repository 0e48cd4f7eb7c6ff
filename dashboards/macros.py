"""Turn a panel's SQL into the SQL ClickHouse receives, the way Grafana and the ClickHouse plugin do it.

Two passes, in Grafana's order:

1. Frontend (`interpolate`): the plugin's `applyConditionalAll`, then Grafana's template-variable
   interpolation with the plugin's default formatter (arrays -> 'a','b'; single values raw).
   Sources read: grafana/clickhouse-datasource src/data/CHDatasource.ts (`applyTemplateVariables`,
   `applyConditionalAll`, `getMacroArgs`, `format`), grafana/scenes
   packages/scenes/src/variables/constants.ts (VARIABLE_REGEX) and
   packages/scenes/src/variables/interpolation/formatRegistry.ts + sceneInterpolator.ts (formats).
2. Backend (`expand_macros`): grafana/clickhouse-datasource pkg/macros/macros.go (the macro bodies and
   the `ClickHouseMacros` map, layered on grafana/macropro defaults.go) and grafana/macropro parser.go /
   macropro.go (longest name first, whole-name match, argument splitting, comment stripping); nested
   macros expand innermost first (macros_test.go TestInterpolateNestedMacros).
   Read at clickhouse-datasource commit 1d04063a (plugin 4.20); the macro bodies are the same in the
   pre-macropro versions (commits 005050e2, 4304e52e) and in the 4.14 line docker-compose installs.

Times are rendered in UTC, as the plugin does in its (UTC) container: toDateTime(<unix seconds>) truncates
to the second, fromUnixTimestamp64Milli(<unix ms>), toDate('<YYYY-MM-DD>').
The plugin's statement macros ($__columns, $__rateColumns, $__perSecondColumns, $__increaseColumns,
$__lttb) and $__table/$__column (query-builder context) are not supported: the dashboards do not use them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

ALL = "$__all"
Value = str | tuple[str, ...]


@dataclass(frozen=True)
class QueryContext:
    """What Grafana sends with a query: the dashboard time range and the panel's interval."""

    start: datetime
    end: datetime
    interval: timedelta = timedelta(minutes=1)
    timezone: str = "Asia/Ho_Chi_Minh"

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("time range bounds must be timezone-aware")


@dataclass(frozen=True)
class Variable:
    """A dashboard variable's current state. `value` is ALL for "All"; `options` is what All stands for."""

    value: Value
    text: Value | None = None
    options: tuple[str, ...] = field(default_factory=tuple)

    def current(self) -> Value:
        if self.value == ALL or self.value == (ALL,):
            return tuple(self.options)
        return self.value


def _as_variable(value: Variable | str | Sequence[str]) -> Variable:
    if isinstance(value, Variable):
        return value
    if isinstance(value, str):
        return Variable(value)
    return Variable(tuple(value))


# ---------------------------------------------------------------------------------------------------
# Frontend: $__conditionalAll and template variables
# ---------------------------------------------------------------------------------------------------

# grafana/scenes constants.ts VARIABLE_REGEX; JavaScript's \w is ASCII-only.
VARIABLE_REGEX = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}", re.ASCII)
_CONDITIONAL_VAR = re.compile(r"(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+", re.ASCII)
_CONDITIONAL_ALL = "$__conditionalAll("


def _macro_args(query: str, args_index: int) -> list[str]:
    """CHDatasource.getMacroArgs: split at top-level commas, raw (untrimmed) pieces, [] if unbalanced."""
    args: list[str] = []
    depth = 0
    last_end = 1
    sub = query[args_index:]
    for match in re.finditer(r"\(|\)|,", sub):
        token = match.group()
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        if token == "," and depth == 1:
            args.append(sub[last_end : match.end() - 1])
            last_end = match.end()
        if depth == 0:
            args.append(sub[last_end : match.end() - 1])
            return args
    return []


def _js_replace_first(text: str, search: str, replacement: str) -> str:
    """String.prototype.replace(string, string): first occurrence, with $$ $& $` $' patterns."""
    index = text.find(search)
    if index < 0:
        return text
    before, after = text[:index], text[index + len(search) :]
    patterns = {"$$": "$", "$&": search, "$`": before, "$'": after}
    expanded = re.sub(r"\$[$&`']", lambda m: patterns[m.group()], replacement)
    return before + expanded + after


def apply_conditional_all(query: str, variables: Mapping[str, Variable]) -> str:
    """CHDatasource.applyConditionalAll: `$__conditionalAll(cond, $var)` -> cond, or 1=1 for All/empty."""
    index = query.rfind(_CONDITIONAL_ALL)
    while index != -1:
        params = _macro_args(query, index + len(_CONDITIONAL_ALL) - 1)
        if len(params) != 2:
            return query
        phrase = params[0]
        found = _CONDITIONAL_VAR.search(params[1].strip())
        if found:
            variable = variables.get(found.group())
            value = _js_to_string(variable.value) if variable else None
            if value in ("", ALL):
                phrase = "1=1"
        query = _js_replace_first(query, f"{_CONDITIONAL_ALL}{params[0]},{params[1]})", phrase)
        index = query.rfind(_CONDITIONAL_ALL)
    return query


def _js_to_string(value: Value) -> str:
    return ",".join(value) if isinstance(value, tuple) else value


def clickhouse_default_format(value: Value) -> str:
    """CHDatasource.format: arrays become 'a','b' (no escaping); single values stay raw."""
    return "'" + "','".join(value) + "'" if isinstance(value, tuple) else value


def _escape_regex(value: str) -> str:
    return re.sub(r"[\\^$*+?.()|\[\]{}/]", lambda m: "\\" + m.group(), value)


def _quote_each(value: Value, quote: str, escaped: Callable[[str], str]) -> str:
    items = value if isinstance(value, tuple) else (value,)
    return ",".join(f"{quote}{escaped(item)}{quote}" for item in items)


def _json(value: Value) -> str:
    return json.dumps(list(value), separators=(",", ":"), ensure_ascii=False) if isinstance(value, tuple) else value


def _sql_string(item: str) -> str:
    return item.replace("'", "''").replace('"', '\\"')


_FORMATS: dict[str, Callable[[Value, list[str], Variable], str]] = {
    "raw": lambda v, a, var: _js_to_string(v),
    "csv": lambda v, a, var: _js_to_string(v),
    "pipe": lambda v, a, var: "|".join(v) if isinstance(v, tuple) else v,
    "join": lambda v, a, var: (a[0] if a else ",").join(v) if isinstance(v, tuple) else v,
    "json": lambda v, a, var: _json(v),
    "singlequote": lambda v, a, var: _quote_each(v, "'", lambda s: s.replace("'", "\\'")),
    "doublequote": lambda v, a, var: _quote_each(v, '"', lambda s: s.replace('"', '\\"')),
    "sqlstring": lambda v, a, var: _quote_each(v, "'", _sql_string),
    "glob": lambda v, a, var: "{" + ",".join(v) + "}" if isinstance(v, tuple) and len(v) > 1 else _js_to_string(v),
    "regex": lambda v, a, var: (
        (_escape_regex(v[0]) if len(v) == 1 else "(" + "|".join(map(_escape_regex, v)) + ")")
        if isinstance(v, tuple)
        else _escape_regex(v)
    ),
    "text": lambda v, a, var: _js_to_string(var.text) if var.text is not None else _js_to_string(v),
}


def _format_date(value: Value, args: list[str]) -> str:
    millis = int(_js_to_string(value))
    kind = args[0] if args else "iso"
    if kind == "ms":
        return str(millis)
    if kind == "seconds":
        return str(round(millis / 1000))
    if kind == "iso":
        return datetime.fromtimestamp(millis / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    raise ValueError(f"date format {':'.join(args)!r} is not supported here")


def format_value(variable: Variable, fmt: str | None) -> str:
    """sceneInterpolator.formatValue with the plugin's formatter as the default."""
    value = variable.current()
    if fmt is None:
        return clickhouse_default_format(value)
    name, *args = fmt.split(":")
    if name == "date":
        return _format_date(value, args)
    formatter = _FORMATS.get(name, _FORMATS["glob"])  # unknown formats fall back to glob, as in Grafana
    return formatter(value, args, variable)


def _format_duration(delta: timedelta) -> str:
    """macropro FormatDuration (the compact 5m/30s/2h form, also what $__interval shows)."""
    ms = abs(round(delta.total_seconds() * 1000))
    if ms == 0:
        return "0s"
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _builtin_variables(ctx: QueryContext) -> dict[str, Variable]:
    """Grafana's global variables that a query may use."""
    return {
        "__from": Variable(str(_unix_ms(ctx.start))),
        "__to": Variable(str(_unix_ms(ctx.end))),
        "__interval": Variable(_format_duration(ctx.interval)),
        "__interval_ms": Variable(str(round(ctx.interval.total_seconds() * 1000))),
        "__timezone": Variable(ctx.timezone),
    }


def interpolate(query: str, variables: Mapping[str, Variable | str | Sequence[str]] | None, ctx: QueryContext) -> str:
    """The frontend pass (CHDatasource.applyTemplateVariables without ad hoc filters)."""
    known = _builtin_variables(ctx) | {name: _as_variable(v) for name, v in (variables or {}).items()}
    query = apply_conditional_all(query, known)

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        variable = known.get(name)
        return match.group() if variable is None else format_value(variable, fmt)

    return VARIABLE_REGEX.sub(replace, query)


# ---------------------------------------------------------------------------------------------------
# Backend: the plugin's $__ macros (pkg/macros/macros.go on top of macropro)
# ---------------------------------------------------------------------------------------------------


def _unix_s(moment: datetime) -> int:
    return math.floor(moment.timestamp())


def _unix_ms(moment: datetime) -> int:
    return math.floor(moment.timestamp() * 1000)


def _date(moment: datetime) -> str:
    return f"toDate('{moment.astimezone(UTC):%Y-%m-%d}')"


def _datetime(moment: datetime) -> str:
    return f"toDateTime({_unix_s(moment)})"


def _datetime64(moment: datetime) -> str:
    return f"fromUnixTimestamp64Milli({_unix_ms(moment)})"


def _arity(name: str, args: list[str], want: int) -> None:
    if len(args) != want:
        raise MacroError(f"$__{name} expected {want} argument(s), received {len(args)}")


class MacroError(ValueError):
    """A macro used with the wrong arguments (the plugin answers with an error too)."""


def _filter(name: str, render: Callable[[datetime], str]) -> Callable[[QueryContext, list[str]], str]:
    def macro(ctx: QueryContext, args: list[str]) -> str:
        _arity(name, args, 1)
        column = args[0]
        return f"{column} >= {render(ctx.start)} AND {column} <= {render(ctx.end)}"

    return macro


def _date_time_filter(ctx: QueryContext, args: list[str]) -> str:
    _arity("dateTimeFilter", args, 2)
    date_col, time_col = args
    dates = f"({date_col} >= {_date(ctx.start)} AND {date_col} <= {_date(ctx.end)})"
    times = f"({time_col} >= {_datetime(ctx.start)} AND {time_col} <= {_datetime(ctx.end)})"
    return f"{dates} AND {times}"


def _interval_seconds(ctx: QueryContext) -> int:
    return int(max(ctx.interval.total_seconds(), 1))


def _interval_ms(ctx: QueryContext) -> int:
    return int(max(ctx.interval // timedelta(milliseconds=1), 1))


def _time_interval(ctx: QueryContext, args: list[str]) -> str:
    _arity("timeInterval", args, 1)
    return f"toStartOfInterval(toDateTime({args[0]}), INTERVAL {_interval_seconds(ctx)} second)"


def _time_interval_ms(ctx: QueryContext, args: list[str]) -> str:
    _arity("timeInterval_ms", args, 1)
    return f"toStartOfInterval(toDateTime64({args[0]}, 3), INTERVAL {_interval_ms(ctx)} millisecond)"


def _bound(name: str, op: str, pick: Callable[[QueryContext], datetime]) -> Callable[[QueryContext, list[str]], str]:
    def macro(ctx: QueryContext, args: list[str]) -> str:
        _arity(name, args, 1)
        return f"{args[0]} {op} {_datetime(pick(ctx))}"

    return macro


_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def _time_group(ctx: QueryContext, args: list[str]) -> str:
    _arity("timeGroup", args, 2)
    period = args[1].strip().strip("'\"")
    parts = _GO_DURATION.findall(period)
    if not parts or "".join(n + u for n, u in parts) != period:
        raise MacroError(f"$__timeGroup: invalid interval {period!r}")
    seconds = round(sum(float(n) * _GO_UNITS[u] for n, u in parts))
    if seconds <= 0:
        raise MacroError(f"$__timeGroup: interval must be positive, got {period!r}")
    return f"toStartOfInterval(toDateTime({args[0].strip()}), INTERVAL {seconds} second)"


MACROS: dict[str, Callable[[QueryContext, list[str]], str]] = {
    # macropro defaults kept by the plugin
    "interval": lambda ctx, args: _format_duration(ctx.interval),
    "interval_ms": lambda ctx, args: str(ctx.interval // timedelta(milliseconds=1)),
    # plugin overrides and extensions
    "timeFilter": _filter("timeFilter", _datetime),
    "timeFrom": _bound("timeFrom", ">=", lambda ctx: ctx.start),
    "timeTo": _bound("timeTo", "<=", lambda ctx: ctx.end),
    "timeGroup": _time_group,
    "fromTime": lambda ctx, args: _datetime(ctx.start),
    "toTime": lambda ctx, args: _datetime(ctx.end),
    "fromTime_ms": lambda ctx, args: _datetime64(ctx.start),
    "toTime_ms": lambda ctx, args: _datetime64(ctx.end),
    "timeFilter_ms": _filter("timeFilter_ms", _datetime64),
    "dateFilter": _filter("dateFilter", _date),
    "dateTimeFilter": _date_time_filter,
    "dt": _date_time_filter,
    "timeInterval": _time_interval,
    "timeInterval_ms": _time_interval_ms,
    "interval_s": lambda ctx, args: str(_interval_seconds(ctx)),
}
UNSUPPORTED = ("columns", "rateColumns", "perSecondColumns", "increaseColumns", "lttb", "table", "column")


def _scan_quoted(text: str, pos: int, backslash: bool) -> int:
    """Index after the literal opening at pos; doubled quotes (and optionally backslashes) escape."""
    quote = text[pos]
    j = pos + 1
    while j < len(text):
        if backslash and text[j] == "\\":
            j += 2
            continue
        if text[j] == quote:
            if j + 1 < len(text) and text[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    return j


def _dollar_quote_end(text: str, pos: int) -> int:
    """macropro parseDollarQuote: end of $tag$...$tag$ starting at pos, or -1."""
    j = pos + 1
    while j < len(text) and text[j] != "$":
        if not (text[j].isascii() and (text[j].isalnum() or text[j] == "_")):
            return -1
        j += 1
    if j >= len(text):
        return -1
    tag = text[pos : j + 1]
    close = text.find(tag, j + 1)
    return -1 if close < 0 else close + len(tag)


def strip_comments(sql: str) -> str:
    """macropro.StripComments with the plugin's flags: -- and /* */ become spaces; literals are kept."""
    out: list[str] = []
    i = 0
    while i < len(sql):
        ch = sql[i]
        if ch in "'\"`":
            j = _scan_quoted(sql, i, backslash=ch != "`")
            out.append(sql[i:j])
            i = j
            continue
        if ch == "$":
            end = _dollar_quote_end(sql, i)
            if end >= 0:
                out.append(sql[i:end])
                i = end
                continue
        if sql.startswith("--", i):
            j = i
            while j < len(sql) and sql[j] not in "\r\n":
                j += 1
            out.append(" " * (j - i))
            i = j
            continue
        if sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            j = len(sql) if close < 0 else close + 2
            out.append(" " * (j - i))
            i = j
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _closing_paren(text: str, open_at: int) -> int:
    depth = 0
    i = open_at
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            i = _scan_quoted(text, i, backslash=False)
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def parse_args(raw: str) -> list[str]:
    """macropro parseArgs: top-level commas split, each argument trimmed; '' -> no arguments."""
    raw = raw.strip()
    if not raw:
        return []
    args: list[str] = []
    depth = start = i = 0
    while i < len(raw):
        ch = raw[i]
        if ch in "'\"":
            i = _scan_quoted(raw, i, backslash=False)
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                raise MacroError(f"unexpected ')' at position {i}")
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(raw[start:i].strip())
            start = i + 1
        i += 1
    if depth:
        raise MacroError("unbalanced parentheses in arguments")
    args.append(raw[start:].strip())
    return args


def _is_name_char(ch: str) -> bool:
    return ch == "_" or ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ("0" <= ch <= "9")


def _replace_macro(sql: str, token: str, expand: Callable[[list[str]], str]) -> str:
    out: list[str] = []
    rest = sql
    while True:
        index = rest.find(token)
        if index < 0:
            out.append(rest)
            return "".join(out)
        after = index + len(token)
        if after < len(rest) and _is_name_char(rest[after]):  # a longer name, e.g. $__timeFilter_ms
            out.append(rest[:after])
            rest = rest[after:]
            continue
        out.append(rest[:index])
        rest = rest[after:]
        raw = ""
        if rest.startswith("("):
            end = _closing_paren(rest, 0)
            if end >= 0:
                raw, rest = rest[1:end], rest[end + 1 :]
        out.append(expand(parse_args(raw)))


def _expand(sql: str, ctx: QueryContext) -> str:
    for name in _ORDER:
        macro = MACROS[name]
        # a macro inside another macro's arguments expands first (innermost first, as the plugin does)
        sql = _replace_macro(sql, f"$__{name}", lambda args, macro=macro: macro(ctx, [_expand(a, ctx) for a in args]))
    return sql


_ORDER = sorted(MACROS, key=lambda n: (-len(n), n))  # longest name first: $__timeFilter_ms before $__timeFilter


def expand_macros(sql: str, ctx: QueryContext) -> str:
    """The backend pass (macros.Interpolate): comments stripped, then every macro expanded."""
    result = strip_comments(sql)
    for name in UNSUPPORTED:
        if re.search(rf"\$__{name}(?!\w)", result):
            raise MacroError(f"$__{name} is not supported by dashboards.macros")
    return _expand(result, ctx)


def render(sql: str, ctx: QueryContext, variables: Mapping[str, Variable | str | Sequence[str]] | None = None) -> str:
    """The SQL ClickHouse receives for a panel query: frontend interpolation, then backend macros."""
    return expand_macros(interpolate(sql, variables, ctx), ctx)


def last(
    duration: timedelta, *, now: datetime | None = None, interval: timedelta = timedelta(minutes=1)
) -> QueryContext:
    """The context for a relative range such as now-6h .. now."""
    end = now or datetime.now(UTC)
    return QueryContext(start=end - duration, end=end, interval=interval)
