"""Grafana dashboards, datasource and alert rules for dvcpulse, built as code (grafana-foundation-sdk).

`dashboards.build` builds everything; the committed output lives in dashboards/json and
dashboards/provisioning. `dashboards.macros` expands the ClickHouse plugin's macros the dashboards use, so the
tests and the preview run exactly the SQL Grafana would send.
"""
