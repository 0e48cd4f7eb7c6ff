"""Just enough SQL reading for the gateway: where an `INSERT ... FORMAT x` statement's data starts, and
whether a statement returns a result set (and in which format)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

# Statements starting with these words return a result set.
_RESULT_WORDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "CHECK", "FROM"})
_TRAILING_FORMAT_RE = re.compile(rb"\bFORMAT\s+([A-Za-z_][A-Za-z0-9_]*)\s*;?\s*$", re.IGNORECASE)
# A deliberately small SQL lexer: enough to find top-level keywords while skipping quoted text and comments.
_TOKEN_RE = re.compile(
    rb"""(?P<ws>\s+)
    |(?P<comment>--[^\n]*|\#[^\n]*|/\*.*?\*/)
    |(?P<quoted>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`)
    |(?P<word>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class InsertPlan:
    """`INSERT <target> [SETTINGS ...] FORMAT <fmt>` followed by data at `data_start`."""

    target: bytes
    settings_clause: bytes
    fmt: str
    data_start: int


def _significant_tokens(sql: bytes) -> Iterator[re.Match[bytes]]:
    for match in _TOKEN_RE.finditer(sql):
        if match.lastgroup not in ("ws", "comment"):
            yield match


def _first_word(sql: bytes) -> str:
    for match in _significant_tokens(sql):
        if match.lastgroup == "word":
            return match.group().decode().upper()
        if match.group() != b"(":
            return ""
    return ""


def result_format(sql: bytes, default_format: str) -> str | None:
    """The format of the statement's result: its trailing FORMAT clause, else `default_format` for a
    statement that returns a result set, else None."""
    trailing = _TRAILING_FORMAT_RE.search(sql)
    if trailing:
        return trailing.group(1).decode()
    return default_format if _first_word(sql) in _RESULT_WORDS else None


def plan_insert(head: bytes, complete: bool) -> InsertPlan | None:
    """Find a top-level `INSERT ... FORMAT name` at the start of `head` (`complete`: nothing follows it);
    None for any other statement (VALUES / SELECT inserts included: their data is inline SQL)."""
    tokens = _significant_tokens(head)
    first = next(tokens, None)
    if first is None or first.group().upper() != b"INSERT":
        return None
    depth, settings_at = 0, -1
    for token in tokens:
        text = token.group()
        if token.lastgroup == "other":
            depth += {b"(": 1, b")": -1}.get(text, 0)
            if text == b";":
                return None
            continue
        if token.lastgroup != "word" or depth:
            continue
        word = text.upper()
        if word in (b"VALUES", b"SELECT", b"WITH", b"FROM"):
            return None
        if word == b"SETTINGS" and settings_at < 0:
            settings_at = token.start()
        elif word == b"FORMAT":
            name = next(tokens, None)
            # A name running to the end of an incomplete head may be cut short.
            if name is None or name.lastgroup != "word" or (name.end() == len(head) and not complete):
                return None
            # ClickHouse's rule: data starts after the first newline, or after the blanks otherwise.
            pos = name.end()
            while pos < len(head) and head[pos] in b" \t\f":
                pos += 1
            if head.startswith(b"\r", pos):
                pos += 1
            if head.startswith(b"\n", pos):
                pos += 1
            cut = settings_at if settings_at >= 0 else token.start()
            return InsertPlan(head[:cut], head[cut : token.start()], name.group().decode(), pos)
    return None
