"""End-to-end check: a provisioned dashboard panel's SQL, run by Grafana itself, answers with data.

It reads the dashboard JSON files, picks a panel whose query goes to the dvcpulse ClickHouse data source,
sends that query to Grafana's POST /api/ds/query (so the data source provisioning, the `grafana` ClickHouse
user, its grants, the plugin and the schema are all exercised) and retries until the answer holds data or
the time is up. Exit 0 on data, 1 otherwise. Standard library only.

Environment:
    GRAFANA_URL              http://grafana:3000
    GRAFANA_USER/PASSWORD    basic auth (leave unset to query as the anonymous viewer)
    VERIFY_DASHBOARDS        folder of dashboard JSON files (searched recursively)
    VERIFY_PANEL             title of the panel to run [default: the first one without dashboard variables]
    VERIFY_DATASOURCE_UID    dvcpulse-clickhouse
    VERIFY_FROM, VERIFY_TO   time range for Grafana macros [now-7d, now+1d: the simulator stamps from now on]
    VERIFY_TIMEOUT_SECONDS   300;  VERIFY_INTERVAL_SECONDS 5

"Data" means at least one row with a value that is not null, zero or empty: a count over an empty
table answers one row of 0, which must not pass.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATASOURCE_UID = "dvcpulse-clickhouse"
PLUGIN_TYPE = "grafana-clickhouse-datasource"
# Dashboard variables ($name, ${name}, ${name:format}, [[name]]) are interpolated by Grafana's frontend,
# not by /api/ds/query; the data source's own macros ($__timeFilter(...), ...) are expanded by the plugin.
_VARIABLE = re.compile(r"\$\{(?!__)(\w+)(?::\w+)?\}|\$(?!__)([A-Za-z_]\w*)|\[\[(\w+)\]\]")


class VerifyError(Exception):
    """The query could not be run or did not answer with data."""


@dataclass(frozen=True)
class Candidate:
    dashboard: str
    panel: str
    query: dict[str, Any]  # the panel's target, ready for /api/ds/query

    @property
    def sql(self) -> str:
        return self.query["rawSql"]


def iter_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in panels or []:
        yield panel
        yield from iter_panels(panel.get("panels", []))


def _uid(datasource: Any) -> str | None:
    if isinstance(datasource, dict):
        return datasource.get("uid")
    return datasource if isinstance(datasource, str) else None


def _variables(dashboard: dict[str, Any]) -> dict[str, str | None]:
    """Dashboard variable -> its current single value, or None when it has none usable here."""
    out: dict[str, str | None] = {}
    for variable in (dashboard.get("templating") or {}).get("list", []):
        value = (variable.get("current") or {}).get("value")
        if isinstance(value, list):
            value = value[0] if len(value) == 1 else None
        if value == "$__all":
            value = variable.get("allValue")
        out[variable.get("name", "")] = value if isinstance(value, str) else None
    return out


def substitute(sql: str, values: dict[str, str | None]) -> str | None:
    """The SQL with single-valued dashboard variables filled in; None if one cannot be."""
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        name = next(group for group in match.groups() if group)
        value = values.get(name)
        if value is None:
            missing = True
            return match.group(0)
        return value

    result = _VARIABLE.sub(replace, sql)
    return None if missing else result


def candidates(folder: Path, uid: str = DATASOURCE_UID) -> list[Candidate]:
    """Runnable panel queries on the data source `uid`: panels without dashboard variables first."""
    plain, with_variables = [], []
    for path in sorted(folder.rglob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        dashboard = dashboard.get("dashboard", dashboard)  # an API export wraps the dashboard
        values = _variables(dashboard)
        for panel in iter_panels(dashboard.get("panels", [])):
            for target in panel.get("targets") or []:
                sql = target.get("rawSql")
                if (
                    not sql
                    or target.get("hide")
                    or (_uid(target.get("datasource")) or _uid(panel.get("datasource"))) != uid
                ):
                    continue
                filled = substitute(sql, values)
                if filled is None:
                    continue
                query = {
                    **target,
                    "refId": target.get("refId") or "A",
                    "datasource": {"type": PLUGIN_TYPE, "uid": uid},
                    "rawSql": filled,
                    "intervalMs": target.get("intervalMs", 60_000),
                    "maxDataPoints": target.get("maxDataPoints", 1_000),
                }
                found = Candidate(dashboard.get("title", path.stem), panel.get("title", "?"), query)
                (plain if filled == sql else with_variables).append(found)
    return plain + with_variables


def post_query(base_url: str, body: dict[str, Any], auth: str | None, timeout: float = 30.0) -> dict[str, Any]:
    request = urllib.request.Request(
        base_url.rstrip("/") + "/api/ds/query",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        # Grafana answers a failed query with a status and the same JSON shape, error included.
        text = error.read().decode(errors="replace")
        try:
            return json.loads(text)
        except ValueError:
            raise VerifyError(f"HTTP {error.code} from Grafana: {text[:300]}") from None
    except (urllib.error.URLError, OSError) as error:
        raise VerifyError(f"cannot reach Grafana at {base_url}: {error}") from None


def _meaningful(value: Any) -> bool:
    return value not in (None, 0, 0.0, "", False)


def data_rows(answer: dict[str, Any], ref_id: str) -> int:
    """Rows holding data in the answer to `ref_id`; raises VerifyError for an error answer."""
    result = (answer.get("results") or {}).get(ref_id)
    if result is None:
        raise VerifyError(f"no result for {ref_id}: {json.dumps(answer)[:300]}")
    if result.get("error"):
        raise VerifyError(f"query failed: {result['error']}")
    rows = 0
    for frame in result.get("frames") or []:
        columns = (frame.get("data") or {}).get("values") or []
        for row in zip(*columns, strict=False):
            rows += any(_meaningful(value) for value in row)
    return rows


def verify(
    base_url: str,
    candidate: Candidate,
    *,
    auth: str | None,
    time_from: str,
    time_to: str,
    timeout: float,
    interval: float,
) -> int:
    """Poll until the query answers with data; returns the number of rows with data."""
    body = {"from": time_from, "to": time_to, "queries": [candidate.query]}
    deadline = time.monotonic() + timeout
    while True:
        try:
            rows = data_rows(post_query(base_url, body, auth), candidate.query["refId"])
            if rows:
                return rows
            problem = "the query answered with no data yet"
        except VerifyError as error:
            problem = str(error)
        if time.monotonic() + interval > deadline:
            raise VerifyError(f"{problem} (gave up after {timeout:.0f} s)")
        print(f"waiting: {problem}", file=sys.stderr, flush=True)
        time.sleep(interval)


def main() -> int:
    env = os.environ
    folder = Path(env.get("VERIFY_DASHBOARDS", "dashboards/json"))
    uid = env.get("VERIFY_DATASOURCE_UID", DATASOURCE_UID)
    found = candidates(folder, uid) if folder.is_dir() else []
    wanted = env.get("VERIFY_PANEL")
    if wanted:
        found = [c for c in found if c.panel.casefold() == wanted.casefold()]
    if not found:
        what = f"a panel titled {wanted!r}" if wanted else "a panel"
        print(f"FAIL: no {what} with a runnable SQL query on data source {uid!r} in {folder}", file=sys.stderr)
        return 1
    chosen = found[0]
    user, password = env.get("GRAFANA_USER"), env.get("GRAFANA_PASSWORD")
    auth = f"{user}:{password}" if user and password else None
    print(f"running panel {chosen.panel!r} of dashboard {chosen.dashboard!r}:\n{chosen.sql.strip()}", flush=True)
    try:
        rows = verify(
            env.get("GRAFANA_URL", "http://localhost:3000"),
            chosen,
            auth=auth,
            time_from=env.get("VERIFY_FROM", "now-7d"),
            time_to=env.get("VERIFY_TO", "now+1d"),
            timeout=float(env.get("VERIFY_TIMEOUT_SECONDS", "300")),
            interval=float(env.get("VERIFY_INTERVAL_SECONDS", "5")),
        )
    except VerifyError as error:
        print(f"FAIL: {error}", file=sys.stderr)
        return 1
    print(f"OK: {rows} row(s) with data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
