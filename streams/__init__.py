"""The Faust app and its two agents: ingest (validate, route by record) and aggregate (dedup, count)."""
