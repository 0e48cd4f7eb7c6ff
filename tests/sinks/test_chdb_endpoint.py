"""sinks.chdb_endpoint: publishing, finding and withdrawing a gateway's endpoint file.

A real HTTP server answering `/ping` like the gateway stands in for it, so no chdb is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dvcpulse.sinks.chdb_endpoint import endpoint_file, find_running_server, remove_endpoint, write_endpoint


def test_published_endpoint_is_found_until_withdrawn(tmp_path: Path, ping_url: str) -> None:
    data = tmp_path / "chdb"
    assert endpoint_file(data) == tmp_path / "chdb.endpoint.json"
    write_endpoint(data, ping_url)
    assert find_running_server(data) == ping_url
    remove_endpoint(data)
    assert not endpoint_file(data).exists()
    assert find_running_server(data) is None


def test_another_owners_endpoint_is_not_withdrawn(tmp_path: Path, ping_url: str) -> None:
    data = tmp_path / "chdb"
    target = endpoint_file(data)
    target.write_text(json.dumps({"url": ping_url, "pid": os.getppid()}))
    remove_endpoint(data)
    assert target.exists()


def test_stale_endpoints_are_removed(tmp_path: Path, ping_url: str) -> None:
    ghost = tmp_path / "ghost"
    target = endpoint_file(ghost)
    assert find_running_server(ghost) is None  # no file

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for info in (
        {"url": ping_url, "pid": dead.pid},  # answers, but its owner is gone
        {"url": "http://127.0.0.1:9", "pid": os.getpid()},  # alive pid, nothing listening
    ):
        target.write_text(json.dumps(info))
        assert find_running_server(ghost) is None
        assert not target.exists()
    target.write_text("{not json")
    assert find_running_server(ghost) is None and not target.exists()
