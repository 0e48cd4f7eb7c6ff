"""Push the built dashboards to a running Grafana with grafana-client (folder created when missing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grafana_client import GrafanaApi

from dvcpulse.dashboards.common import FOLDER


def ensure_folder(api: GrafanaApi, title: str) -> str:
    """The uid of the folder with this title, created (uid = title) when there is none."""
    for folder in api.folder.get_all_folders():
        if folder.get("title") == title:
            return str(folder["uid"])
    return str(api.folder.create_folder(title, uid=title)["uid"])


def push(url: str, token: str, dashboards: Mapping[str, Mapping[str, Any]], folder: str = FOLDER) -> list[str]:
    """Create or overwrite every dashboard in the folder; returns the dashboard URLs Grafana reports."""
    api = GrafanaApi.from_url(url, credential=token)
    folder_uid = ensure_folder(api, folder)
    urls = []
    for uid, dashboard in dashboards.items():
        body = {key: value for key, value in dashboard.items() if key != "id"}  # Grafana assigns ids
        response = api.dashboard.update_dashboard(
            {"dashboard": body, "folderUid": folder_uid, "overwrite": True, "message": "dvcpulse dashboards push"}
        )
        urls.append(str(response.get("url") or uid))
    return urls
