"""ClickHouse access (clickhouse-connect only): connection, migrations, writers, and the embedded gateway."""
