"""The CLI's wiring and its settings overrides (dvcpulse/cli.py, dvcpulse/commands/common.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer

from dvcpulse.cli import app
from dvcpulse.commands import broker, dashboards, db, publish, schema, simulate, sql, up, worker
from dvcpulse.commands.common import load_settings
from dvcpulse.settings import get_settings


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Settings from this test's variables only: no .env (another working directory), no cached settings."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "kafka.example:9092")  # read through its alias
    monkeypatch.setenv("DVCPULSE_PII_KEY", "a-test-key")
    monkeypatch.setenv("DVCPULSE_PARTITIONS", "12")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _exit_code_and_stderr(call: Callable[[], Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(typer.Exit) as raised:
        call()
    return raised.value.exit_code, capsys.readouterr().err


def test_overrides_apply_on_top_of_the_environment(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "data", web_port=7001, worker_id=None)
    assert settings.data_dir == tmp_path / "data"
    assert settings.web_port == 7001
    assert settings.worker_id is None  # an option not given leaves the setting as it is
    assert settings.kafka_bootstrap == "kafka.example:9092"
    assert settings.partitions == 12
    assert settings.pii_key.get_secret_value() == "a-test-key"
    assert load_settings() is get_settings()


def test_an_invalid_override_is_rejected_with_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _exit_code_and_stderr(lambda: load_settings(partitions=0), capsys)
    assert code == 2
    assert err.strip() == "error: invalid value for --partitions: Input should be greater than or equal to 1"


def test_a_data_dir_of_the_wrong_type_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _exit_code_and_stderr(lambda: load_settings(data_dir=123), capsys)  # type: ignore[arg-type]
    assert code == 2
    assert err.startswith("error: invalid value for --data-dir: Input is not a valid path")


def test_a_setting_read_through_an_alias_is_named_by_its_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _exit_code_and_stderr(lambda: load_settings(kafka_bootstrap=9092, web_port="x"), capsys)
    assert code == 2
    assert "invalid value for --kafka-bootstrap: Input should be a valid string" in err
    assert "invalid value for --web-port: Input should be a valid integer" in err


def test_an_override_that_is_not_a_setting_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="not a setting: web_prot"):
        load_settings(web_prot=7001)


def test_every_command_is_a_module_level_function() -> None:
    root = typer.main.get_command(app)
    callbacks = {
        (name, sub): command.callback.__wrapped__  # typer wraps each function to convert its parameters
        for name, group in root.commands.items()
        for sub, command in getattr(group, "commands", {None: group}).items()
    }
    assert callbacks == {
        ("schema", "export"): schema.export,
        ("publish", None): publish.publish,
        ("simulate", None): simulate.simulate_command,
        ("broker", None): broker.broker,
        ("worker", None): worker.worker,
        ("db", "migrate"): db.migrate_command,
        ("db", "serve"): db.serve_command,
        ("sql", None): sql.sql,
        ("up", None): up.up,
        ("dashboards", "build"): dashboards.build_command,
        ("dashboards", "check"): dashboards.check_command,
        ("dashboards", "push"): dashboards.push_command,
        ("dashboards", "preview"): dashboards.preview_command,
    }


def test_a_command_can_be_called_as_a_function(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "filing-event.json"
    schema.export(out)
    assert orjson.loads(out.read_bytes()) == schema.event_json_schema()
    assert capsys.readouterr().err == f"wrote {out}\n"
