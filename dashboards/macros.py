"""Turn a panel's SQL into the SQL ClickHouse receives, the way Grafana and the ClickHouse plugin do it.

Only what the dashboards, their variables and the alert rules use is here, in Grafana's order:

1. Frontend (`interpolate`): the plugin's `$__conditionalAll`, then Grafana's template variables, written
   `$name`, `${name}`, `[[name]]` or `${name:singlequote}`. Sources: grafana/clickhouse-datasource
   src/data/CHDatasource.ts (`applyTemplateVariables`, `applyConditionalAll`, `getMacroArgs`, `format`),
   grafana/scenes packages/scenes/src/variables/constants.ts (VARIABLE_REGEX) and
   interpolation/formatRegistry.ts (singlequote).
2. Backend (`expand_macros`): `$__timeFilter`, `$__timeInterval`, `$__interval_s`, `$__fromTime` and
   `$__toTime` from grafana/clickhouse-datasource pkg/macros/macros.go, found and split as grafana/macropro
   parser.go / macropro.go do (whole-name match, top-level argument splitting, nested macros innermost
   first). Read at clickhouse-datasource commit 1d04063a (plugin 4.20); these bodies are the same in the
   4.14 line docker-compose installs.

Times are rendered in UTC, as the plugin does: toDateTime(<unix seconds>), truncated to the second.
Any other plugin macro, and any variable format but singlequote, is an error rather than passed through.
The plugin blanks SQL comments before expanding macros; here they are kept, which ClickHouse ignores.
"""

from __future__ import annotations

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

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("time range bounds must be timezone-aware")


@dataclass(frozen=True)
class Variable:
    """A dashboard variable's current state. `value` is ALL for "All"; `options` is what All stands for."""

    value: Value
    options: tuple[str, ...] = field(default_factory=tuple)

    def current(self) -> Value:
        if self.value == ALL or self.value == (ALL,):
            return tuple(self.options)
        return self.value


Variables = Mapping[str, Variable | str | Sequence[str]]


def _as_variable(value: Variable | str | Sequence[str]) -> Variable:
    if isinstance(value, Variable):
        return value
    if isinstance(value, str):
        return Variable(value)
    return Variable(tuple(value))


class MacroError(ValueError):
    """A macro or format used with the wrong arguments, or one this module does not implement."""


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


def _js_to_string(value: Value) -> str:
    return ",".join(value) if isinstance(value, tuple) else value


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


def format_value(variable: Variable, fmt: str | None) -> str:
    """A variable's text in the query: the singlequote format, or the plugin's default without a format."""
    value = variable.current()
    if fmt == "singlequote":
        items = value if isinstance(value, tuple) else (value,)
        return ",".join("'" + item.replace("'", "\\'") + "'" for item in items)
    if fmt is None:
        # CHDatasource.format, what `$name` without a format gets: no panel relies on it today (`$province`
        # only appears inside $__conditionalAll, which consumes it), but a bare variable must render somehow.
        return "'" + "','".join(value) + "'" if isinstance(value, tuple) else value
    raise MacroError(f"variable format {fmt!r} is not supported by dashboards.macros")


def interpolate(query: str, variables: Variables | None) -> str:
    """The frontend pass (CHDatasource.applyTemplateVariables without ad hoc filters).

    Names that are not dashboard variables are left as they are: the plugin's macros for the backend pass,
    and Grafana's global variables ($__from, $__interval, ...), which no query uses.
    """
    known = {name: _as_variable(v) for name, v in (variables or {}).items()}
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


def _datetime(moment: datetime) -> str:
    return f"toDateTime({math.floor(moment.timestamp())})"


def _arity(name: str, args: list[str], want: int) -> None:
    if len(args) != want:
        raise MacroError(f"$__{name} expected {want} argument(s), received {len(args)}")


def _time_filter(ctx: QueryContext, args: list[str]) -> str:
    _arity("timeFilter", args, 1)
    column = args[0]
    return f"{column} >= {_datetime(ctx.start)} AND {column} <= {_datetime(ctx.end)}"


def _interval_seconds(ctx: QueryContext) -> int:
    return int(max(ctx.interval.total_seconds(), 1))


def _time_interval(ctx: QueryContext, args: list[str]) -> str:
    _arity("timeInterval", args, 1)
    return f"toStartOfInterval(toDateTime({args[0]}), INTERVAL {_interval_seconds(ctx)} second)"


MACROS: dict[str, Callable[[QueryContext, list[str]], str]] = {
    "timeFilter": _time_filter,
    "timeInterval": _time_interval,
    "interval_s": lambda ctx, args: str(_interval_seconds(ctx)),
    "fromTime": lambda ctx, args: _datetime(ctx.start),
    "toTime": lambda ctx, args: _datetime(ctx.end),
}
# The plugin's other macros: refused, so a panel that starts using one fails its test instead of sending
# ClickHouse SQL Grafana never would.
UNSUPPORTED = (
    "interval", "interval_ms", "timeFilter_ms", "timeFrom", "timeTo", "timeGroup", "fromTime_ms", "toTime_ms",
    "dateFilter", "dateTimeFilter", "dt", "timeInterval_ms",
    "columns", "rateColumns", "perSecondColumns", "increaseColumns", "lttb", "table", "column",
)  # fmt: skip


def _scan_quoted(text: str, pos: int) -> int:
    """Index after the literal opening at pos; a doubled quote escapes it."""
    quote = text[pos]
    j = pos + 1
    while j < len(text):
        if text[j] == quote:
            if j + 1 < len(text) and text[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    return j


def _closing_paren(text: str, open_at: int) -> int:
    depth = 0
    i = open_at
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            i = _scan_quoted(text, i)
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
            i = _scan_quoted(raw, i)
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
    for name, macro in MACROS.items():
        # a macro inside another macro's arguments expands first (innermost first, as the plugin does)
        sql = _replace_macro(sql, f"$__{name}", lambda args, macro=macro: macro(ctx, [_expand(a, ctx) for a in args]))
    return sql


def expand_macros(sql: str, ctx: QueryContext) -> str:
    """The backend pass (macros.Interpolate): every macro expanded; SQL comments are kept."""
    for name in UNSUPPORTED:
        if re.search(rf"\$__{name}(?!\w)", sql):
            raise MacroError(f"$__{name} is not supported by dashboards.macros")
    return _expand(sql, ctx)


def render(sql: str, ctx: QueryContext, variables: Variables | None = None) -> str:
    """The SQL ClickHouse receives for a panel query: frontend interpolation, then backend macros."""
    return expand_macros(interpolate(sql, variables), ctx)


def last(duration: timedelta, *, now: datetime | None = None) -> QueryContext:
    """The context for a relative range such as now-6h .. now."""
    end = now or datetime.now(UTC)
    return QueryContext(start=end - duration, end=end)
