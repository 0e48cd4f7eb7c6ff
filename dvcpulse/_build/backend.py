"""The PEP 517 build backend pyproject.toml names: setuptools' own, without one informational banner.

An editable install of this project (the Makefile's `pip install -e .`) cannot be a plain .pth file: the
folders models/, streams/, … become dvcpulse.models, dvcpulse.streams, … through [tool.setuptools.package-dir],
so setuptools installs an import hook instead, and then always prints an "Editable installation" banner (each
editable mode has one; strict mode's names its link tree). Here it asks for nothing: it warns that a folder
named like the package in the working directory may shadow it, and in this repository that folder is the
package itself. Every hook is setuptools.build_meta's; every other warning still shows.
"""

from __future__ import annotations

import warnings
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (every hook a frontend may call, unchanged)


def build_editable(
    wheel_directory: str, config_settings: dict[str, Any] | None = None, metadata_directory: str | None = None
) -> str:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Editable installation", category=UserWarning)
        return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
