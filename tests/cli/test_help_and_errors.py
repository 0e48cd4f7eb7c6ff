"""Help texts keep their defaults, and errors are one line naming the fix (tracebacks only with --debug)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer
from clickhouse_connect.driver.exceptions import OperationalError
from typer.testing import CliRunner

from dvcpulse.cli import app
from dvcpulse.commands import errors
from dvcpulse.settings import get_settings


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A folder without data, no dvcpulse settings from the machine, no cached settings, --debug off."""
    monkeypatch.chdir(tmp_path)
    for name in ("KAFKA_BOOTSTRAP", "CLICKHOUSE_DSN", "DVCPULSE_DATA_DIR", "DVCPULSE_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
    errors._debug.clear()


def _commands() -> Iterator[tuple[list[str], click.Command]]:
    def walk(path: list[str], command: click.Command) -> Iterator[tuple[list[str], click.Command]]:
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk([*path, name], sub)

    yield from walk([], typer.main.get_command(app))


def _help(path: list[str]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in result.output.splitlines()), result.output
    return result.output


def _flat(text: str) -> str:
    """Text without its line breaks (click breaks "--until-drained" after the hyphen, too)."""
    return " ".join(re.sub(r"-\n\s*", "-", text).split())


@pytest.mark.parametrize("path", [path for path, _ in _commands()], ids=lambda path: " ".join(path) or "dvcpulse")
def test_help_shows_every_default_and_no_type_on_flags(path: list[str]) -> None:
    shown = _help(path)
    command = dict((" ".join(p), c) for p, c in _commands())[" ".join(path)]
    assert "<bool>" not in shown  # a flag takes no value
    assert not re.search(r"\w \.(\s|$)", shown), shown  # what Rich left of "[default: …]" read as markup
    for param in command.params:
        help_text = getattr(param, "help", None) or ""
        if "[default:" in help_text:
            assert _flat(help_text) in _flat(shown), param.name


def test_up_help_in_particular() -> None:
    shown = _flat(_help(["up"]))
    assert "[default: the profile's national day, 120,000 for 2025;" in shown
    assert "--until-drained No live view" in shown  # no <bool>
    assert "[default: 24.0;" in shown
    serve = _flat(_help(["db", "serve"]))
    assert "[default: a free one]" in serve and "[default: 0]" not in serve


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run the real entry point (error handling included); its exit code and stderr."""
    with pytest.raises(SystemExit) as exited:
        app(args, prog_name="dvcpulse")
    return int(exited.value.code or 0), capsys.readouterr().err


def _error_lines(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_an_unreachable_kafka_is_one_line_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "127.0.0.1:1")
    code, err = _run(["up", "--data-dir", str(tmp_path / "run")], capsys)
    assert code == 2
    assert _error_lines(err) == [
        "error: cannot reach Kafka at 127.0.0.1:1: start it, or fix KAFKA_BOOTSTRAP (unset it to use the local "
        "broker that `dvcpulse up` or `dvcpulse broker` starts)"
    ]


def test_an_unexpected_error_is_one_line_and_the_traceback_comes_with_debug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLICKHOUSE_DSN", "http://ingest:secret@127.0.0.1:1")
    code, err = _run(["db", "migrate"], capsys)  # nothing in `db migrate` handles it: the entry point does
    assert code == 1
    (line,) = _error_lines(err)
    assert line.startswith("error: cannot reach ClickHouse at http://ingest:***@127.0.0.1:1 (")
    assert line.endswith("): start it, or fix CLICKHOUSE_DSN (unset it for the embedded engine under the data dir)")
    assert "secret" not in err
    with pytest.raises(OperationalError):
        app(["--debug", "db", "migrate"], prog_name="dvcpulse")


def test_an_error_nobody_expected_points_at_debug() -> None:
    line = errors.explain(ZeroDivisionError("division by zero\nmore"))
    assert line == "ZeroDivisionError: division by zero (run `dvcpulse --debug …` for the traceback)"


@pytest.mark.parametrize("args", [["sql", "SELECT * FROM v_totals"], ["dashboards", "preview", "--no-png"]])
def test_no_data_here_says_where_it_looked_and_creates_nothing(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(args, capsys)
    assert code == 1
    (line,) = _error_lines(err)
    assert f"no dvcpulse data in {tmp_path.resolve() / 'data'} " in line
    assert "--data-dir DIR or DVCPULSE_DATA_DIR=DIR" in line
    assert not (tmp_path / "data").exists()
    assert list(tmp_path.iterdir()) == []
