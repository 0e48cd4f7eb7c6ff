"""The endpoint file through which a running gateway tells other processes where it serves a chdb data dir.

It is `<data dir>.endpoint.json`, a sibling of the dir (chdb owns the dir's contents), holding the URL,
the owner's pid and the dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

from dvcpulse.processes import pid_alive


def endpoint_file(path: Path) -> Path:
    """Where the server for data dir `path` publishes its URL: `<path>.endpoint.json`, next to the dir."""
    path = Path(path).resolve()
    return path.with_name(path.name + ".endpoint.json")


def write_endpoint(path: Path, url: str) -> None:
    """Publish `url` as this process's server for data dir `path`."""
    target = endpoint_file(path)
    info = {"url": url, "pid": os.getpid(), "path": str(Path(path).resolve())}
    temp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(info), encoding="utf-8")
    os.replace(temp, target)  # readers never see a half-written file


def remove_endpoint(path: Path) -> None:
    """Withdraw this process's endpoint for data dir `path`; one published by another process stays."""
    _remove(endpoint_file(path), pid=os.getpid())


def find_running_server(path: Path) -> str | None:
    """The URL of the live server owning data dir `path`, or None (a stale endpoint file is removed)."""
    target = endpoint_file(path)
    info = _read(target)
    if info is None:
        return None
    url, pid = info.get("url"), info.get("pid")
    if isinstance(url, str) and isinstance(pid, int) and pid_alive(pid) and _ping(url):
        return url
    _remove(target, expected=info)
    return None


def _read(target: Path) -> dict[str, Any] | None:
    """The endpoint's content; None without a file, {} for an unreadable one."""
    try:
        info = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _remove(target: Path, pid: int | None = None, expected: dict[str, Any] | None = None) -> None:
    """Remove the endpoint file unless it now belongs to someone else (another pid or content)."""
    info = _read(target)
    if info is None or (pid is not None and info.get("pid") != pid) or (expected is not None and info != expected):
        return
    with contextlib.suppress(FileNotFoundError):
        target.unlink()


def _ping(url: str, timeout: float = 2.0) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never route localhost via a proxy
    try:
        with opener.open(f"{url}/ping", timeout=timeout) as response:
            return response.status == 200 and response.read() == b"Ok.\n"
    except (OSError, ValueError):
        return False
