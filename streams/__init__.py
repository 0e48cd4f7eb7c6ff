"""The Faust app and its one agent, `ingest`: validate, route by record, deduplicate and count, write."""
