"""Build what `make grafana-check` runs, from the Go module proxy, into ./.grafana (ignored by git).

    python deploy/grafana/build.py [probe] [grafana] [plugin]     # default: all three

* probe   - deploy/grafana/probe: clickhouse-go as grafana-clickhouse-datasource connects (HTTP protocol);
            its modules come from the proxy (go.sum pins them). Builds here: about 2 minutes on 2 cores.
* grafana - Grafana's server at the 11.6.16 release (docker-compose.yml runs grafana/grafana:11.6.16).
* plugin  - the ClickHouse data source's backend at v4.14.1 (docker-compose.yml installs 4.14.1), with
            its plugin.json.

Neither Grafana nor the plugin is served by the module proxy these machines reach: both answer
403 "This module version is not available." for every version, pseudo-version and commit (see
deploy/grafana/README.md for the commands and answers). The script then stops with exit code 3 and the
proxy's words. The steps after the download (copy the module out of the read-only cache, point `replace`
directives at nested modules that the module zip leaves out, build with GOWORK=off) follow the Go
module reference but have not run here.

Results and timings go to .grafana/build.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".grafana"
BIN = CACHE / "bin"
PROBE = BIN / "chprobe"
GRAFANA = BIN / "grafana"
PLUGIN_ID = "grafana-clickhouse-datasource"
PLUGIN_DIR = CACHE / "plugins" / PLUGIN_ID
GRAFANA_HOME = CACHE / "src" / "grafana"  # the server's homepath: conf/defaults.ini, public/

# Grafana tags (v11.6.16) are not valid versions of the module github.com/grafana/grafana (no /v11 suffix),
# so the go command needs a commit or a branch; release-11.6.16 is the branch the v11.6.16 tag was cut on.
GRAFANA_MODULE = "github.com/grafana/grafana"
GRAFANA_REF = os.environ.get("GRAFANA_REF", "release-11.6.16")
# clickhouse-datasource v4.14.1 = commit c4409cfdab7451c62ba50fb6e5e93d8d2e32338c (2026-03-03 17:59:29 UTC).
PLUGIN_MODULE = "github.com/grafana/clickhouse-datasource"
PLUGIN_REF = os.environ.get("PLUGIN_REF", "v0.0.0-20260303175929-c4409cfdab74")
PLUGIN_VERSION = "4.14.1"

REFUSED = 3


class Refused(Exception):
    """The module proxy would not serve a module version."""


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(CACHE / "gomod"),
        GOCACHE=str(CACHE / "gocache"),
        GOFLAGS="-modcacherw",
        GOWORK="off",
        CGO_ENABLED=env.get("CGO_ENABLED", "1"),
    )
    go = shutil.which("go", path=env.get("PATH", "") + os.pathsep + "/usr/local/go/bin")
    if go is None:
        raise SystemExit("build: no `go` on PATH (nor /usr/local/go/bin); install Go 1.26")
    env["GO"] = go
    return env


def go(env: dict[str, str], *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nice", env["GO"], *args], cwd=cwd, env=env, text=True, capture_output=True)


def download(env: dict[str, str], module: str, ref: str) -> dict[str, Any]:
    """`go mod download -json module@ref`: the module's directory in the cache, or Refused with its error."""
    done = go(env, "mod", "download", "-json", f"{module}@{ref}")
    info = json.loads(done.stdout or "{}")
    if done.returncode or info.get("Error"):
        raise Refused(info.get("Error") or done.stderr.strip())
    return info


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def build_probe(env: dict[str, str]) -> dict[str, Any]:
    done = go(env, "build", "-trimpath", "-o", str(PROBE), ".", cwd=ROOT / "deploy" / "grafana" / "probe")
    if done.returncode:
        raise SystemExit(f"build: the probe did not build:\n{done.stderr}")
    return {"binary": str(PROBE.relative_to(ROOT)), "bytes": PROBE.stat().st_size}


def _copy_module(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:  # the module cache is read-only
        path.chmod(path.stat().st_mode | 0o200)


def _local_replaces(env: dict[str, str], module_dir: Path) -> None:
    """Nested modules are not in a module zip: a `replace X => ./dir` whose dir is missing is pointed at X
    downloaded at the version the main module requires."""
    edit = json.loads(go(env, "mod", "edit", "-json", cwd=module_dir).stdout)
    required = {r["Path"]: r["Version"] for r in edit.get("Require") or []}
    for replace in edit.get("Replace") or []:
        old, new = replace["Old"]["Path"], replace["New"]["Path"]
        if not new.startswith(".") or (module_dir / new).exists():
            continue
        info = download(env, old, replace["Old"].get("Version") or required[old])
        local = CACHE / "src" / "nested" / old.replace("/", "_")
        _copy_module(Path(info["Dir"]), local)
        go(env, "mod", "edit", f"-replace={old}={local}", cwd=module_dir)


def build_grafana(env: dict[str, str]) -> dict[str, Any]:
    info = download(env, GRAFANA_MODULE, GRAFANA_REF)
    _copy_module(Path(info["Dir"]), GRAFANA_HOME)
    _local_replaces(env, GRAFANA_HOME)
    done = go(env, "build", "-trimpath", "-o", str(GRAFANA), "./pkg/cmd/grafana", cwd=GRAFANA_HOME)
    if done.returncode:
        raise SystemExit(f"build: Grafana did not build:\n{done.stderr[-4000:]}")
    return {"version": info["Version"], "binary": str(GRAFANA.relative_to(ROOT)), "bytes": GRAFANA.stat().st_size}


def build_plugin(env: dict[str, str]) -> dict[str, Any]:
    info = download(env, PLUGIN_MODULE, PLUGIN_REF)
    source = CACHE / "src" / PLUGIN_ID
    _copy_module(Path(info["Dir"]), source)
    PLUGIN_DIR.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((source / "src" / "plugin.json").read_text(encoding="utf-8"))
    executable = PLUGIN_DIR / f"{manifest['executable']}_linux_amd64"  # Grafana appends _<os>_<arch>
    done = go(env, "build", "-trimpath", "-o", str(executable), "./pkg", cwd=source)
    if done.returncode:
        raise SystemExit(f"build: the plugin did not build:\n{done.stderr[-4000:]}")
    text = json.dumps(manifest, indent=2).replace("%VERSION%", PLUGIN_VERSION).replace("%TODAY%", "2026-03-03")
    (PLUGIN_DIR / "plugin.json").write_text(text, encoding="utf-8")
    return {"version": info["Version"], "dir": str(PLUGIN_DIR.relative_to(ROOT)), "bytes": dir_size(PLUGIN_DIR)}


STEPS = {"probe": build_probe, "grafana": build_grafana, "plugin": build_plugin}


def main(argv: list[str]) -> int:
    wanted = argv or list(STEPS)
    unknown = set(wanted) - set(STEPS)
    if unknown:
        raise SystemExit(f"build: unknown step(s) {sorted(unknown)}; choose from {list(STEPS)}")
    env = go_env()
    record_file = CACHE / "build.json"
    record = json.loads(record_file.read_text()) if record_file.exists() else {}
    refused = False
    for name in wanted:
        started = time.monotonic()
        print(f"build: {name} ...", flush=True)
        try:
            result = STEPS[name](env)
        except Refused as error:
            refused = True
            result = {"refused": str(error)}
            print(f"build: {name}: the module proxy refused it:\n  {error}", flush=True)
        result["seconds"] = round(time.monotonic() - started, 1)
        record[name] = result
        if "refused" not in result:
            print(f"build: {name}: {result}", flush=True)
    CACHE.mkdir(exist_ok=True)
    record_file.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if refused:
        print("build: see deploy/grafana/README.md ('What the module proxy answers')", flush=True)
    return REFUSED if refused else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
