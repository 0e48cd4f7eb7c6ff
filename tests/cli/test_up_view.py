"""What `dvcpulse up` shows (dvcpulse/commands/up_view.py, up.py): a first frame with nothing absurd, provinces
ranked only once they have data, progress lines when the output is piped, and a summary that keeps this run
apart from all time, with thousands separators and a command that works."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from dvcpulse.commands import common, up
from dvcpulse.commands.up_view import (
    MIN_PROVINCE_FILINGS,
    Figures,
    Flow,
    _written,
    live_view,
    progress_line,
    ranked,
    summary_tables,
)


def _text(renderable: Any, width: int = 100) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_the_first_frame_shows_no_absurd_last_write() -> None:
    assert _written(datetime(1970, 1, 1, tzinfo=UTC), 1_796_062_584.7) is None  # max() over no rows
    assert _written(datetime(2026, 1, 1, tzinfo=UTC), 0.4) == 0.4
    frame = _text(live_view(Flow(), Figures()))
    assert "last write" in frame and "s ago" not in frame
    assert "–" in frame.split("last write")[1].splitlines()[0]


def test_provinces_are_ranked_only_once_they_have_enough_filings() -> None:
    few = Figures(provinces=(("Hà Nội", 3, 3), ("Huế", 0, 2)))
    frame = _text(live_view(Flow(), few))
    assert "100.0 %" not in frame and "0.0 %" not in frame and "Hà Nội" not in frame
    assert f"ranked once a province has {MIN_PROVINCE_FILINGS} filings" in frame
    enough = Figures(provinces=(("Hà Nội", 90, 100), ("Huế", 60, 100), ("Cà Mau", 40, 100), ("Sơn La", 1, 1)))
    top, bottom = ranked(enough)
    assert [name for name, _ in top] == ["Hà Nội", "Huế", "Cà Mau"]
    assert bottom == []  # three provinces are all top: none is shown twice
    frame = _text(live_view(Flow(), enough))
    assert "90.0 %" in frame and "Sơn La" not in frame


def test_a_progress_line_has_thousands_separators_and_no_absurd_figures() -> None:
    flow = Flow().advanced(1_234_567, 1_234_000, 10.0)
    line = progress_line(flow, Figures(totals={**Figures().totals, "synced": 98_765}))
    assert "events in 1,234,567" in line and "processed 1,234,000" in line and "lag 567" in line
    assert "synced 98,765" in line and "last write –" in line and "online –" in line


@dataclass
class FakeRun:
    """What _watch needs of a run: a feed, figures that advance, the worker alive."""

    feed: Any = field(default_factory=lambda: SimpleNamespace(published=0, done=False, error=None))
    before: Figures = field(default_factory=Figures)
    reads: int = 0

    def figures(self) -> Figures:
        self.reads += 1
        self.feed.published = min(self.reads * 1_500, 6_000)
        self.feed.done = self.feed.published == 6_000
        return Figures(processed=min(self.reads * 1_000, 6_000))

    def settled(self, figures: Figures) -> int:
        return figures.settled - self.before.settled

    def worker_failure(self) -> str | None:
        return None


def test_piped_output_gets_periodic_progress_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(up.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(up, "PROGRESS_SECONDS", 0.0)
    out = io.StringIO()
    run = FakeRun()
    up._watch(run, live=False, until_drained=True, timeout=60, progress=out)  # type: ignore[arg-type]
    lines = out.getvalue().splitlines()
    assert len(lines) == run.reads == 6  # one per refresh here; every PROGRESS_SECONDS in a real run
    assert "events in 6,000" in lines[-1] and "processed 6,000" in lines[-1] and "lag 0" in lines[-1]


def _result() -> dict[str, Any]:
    return {
        "published": 40_376, "processed": 40_376, "rejected_by_publisher": 0, "dead_lettered": 2, "duplicates": 0,
        "late": 0, "submitted": 9_388, "synced": 8_123, "synced_online": 6_742, "synced_online_share": 0.83,
        "seconds": 151.2, "data_dir": "/srv/dvcpulse/data",
        "all_time": {"processed": 1_040_376, "synced": 208_123, "synced_online": 172_000,
                     "synced_online_share": 0.8264, "online_rate": 0.86, "full_online_rate": 0.89},
    }  # fmt: skip


def test_the_summary_keeps_this_run_apart_from_all_time_with_separators() -> None:
    this_run, all_time = (_text(table) for table in summary_tables(_result()))
    assert "this run (151.2 s)" in this_run and "40,376" in this_run and "8,123" in this_run
    assert "1,040,376" not in this_run
    assert "all data in /srv/dvcpulse/data" in all_time and "1,040,376" in all_time and "208,123" in all_time
    assert "82.6 %" in all_time


def test_the_summary_suggests_a_command_that_works(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(common.shutil, "which", lambda name: None)  # dvcpulse is not on PATH
    up._print_summary(_result(), tmp_path / "data", drained=False)
    out = capsys.readouterr().out
    script = Path(sys.executable).parent / "dvcpulse"
    command = str(script) if script.exists() else f"{sys.executable} -m dvcpulse"
    assert f'query it:   {command} sql --data-dir data "SELECT * FROM v_totals"' in out
    assert f"dashboard:  {command} dashboards preview --data-dir data" in out
    assert "had not processed every event" in out


def test_cli_command_is_the_bare_name_only_when_path_finds_this_installation(monkeypatch: pytest.MonkeyPatch) -> None:
    script = Path(sys.executable).parent / "dvcpulse"
    monkeypatch.setattr(common.shutil, "which", lambda name: str(script))
    assert common.cli_command() == ("dvcpulse" if script.exists() else f"{sys.executable} -m dvcpulse")
    monkeypatch.setattr(common.shutil, "which", lambda name: "/usr/local/bin/dvcpulse")  # another one
    assert common.cli_command() != "dvcpulse"
