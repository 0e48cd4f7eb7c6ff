"""Imports run one way: import-linter's contracts in pyproject.toml, checked on the package as installed.

import-linter reads a package from its folder on disk, and the card's folders (models/, streams/, …) only
become dvcpulse.models, dvcpulse.streams, … through setuptools' package-dir mapping. So the test lays the
Python files out as a wheel would (the mapping read from pyproject.toml) and runs `lint-imports` on that.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _installed_layout(target: Path) -> None:
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-dir"
    ]
    for package, folder in sorted(package_dir.items()):
        destination = target.joinpath(*package.split("."))
        for source in (ROOT / folder).rglob("*.py"):
            relative = source.relative_to(ROOT / folder)
            if relative.parts[0] in {p.split(".")[-1] for p in package_dir if p.count(".") == 1}:
                continue  # a mapped subpackage is laid out on its own
            (destination / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination / relative)


def test_imports_follow_the_layers(tmp_path: Path) -> None:
    _installed_layout(tmp_path)
    assert (tmp_path / "dvcpulse" / "streams" / "app.py").is_file()
    lint_imports = Path(sys.executable).parent / "lint-imports"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        # run from the laid-out tree: lint-imports puts its working directory first on the import path
        [str(lint_imports), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
