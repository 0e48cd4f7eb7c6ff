# Least-privilege ClickHouse users for dvcpulse, with passwords from the environment.
#
# clickhouse-server's docker entrypoint sources this file (it is not executable) from
# /docker-entrypoint-initdb.d on the FIRST start only, i.e. with an empty data volume, while a temporary
# server listens on 127.0.0.1 and CLICKHOUSE_USER/CLICKHOUSE_PASSWORD name the admin it created. Users
# and grants are then kept in the data volume (access/). To change a password later:
#   ALTER USER grafana IDENTIFIED WITH sha256_password BY '...'   (as the admin; see deploy/PRODUCTION.md)
#
#   ingest   the workers: INSERT and SELECT on dvcpulse.* (SELECT restores partition state on rebalance)
#   grafana  dashboards: SELECT on dvcpulse.*, readonly=1; max_execution_time stays changeable because
#            the ClickHouse data source sets it on every query
#   analyst  people: SELECT on dvcpulse.*, readonly=2 (may change session settings, never write)
#
# The database is created here so that DEFAULT DATABASE holds at once; the schema itself is applied by
# `dvcpulse db migrate` as the admin (docker-compose.yml: `migrate`).
# Sourced: no `exit` and no `set` here, a failing command already stops the entrypoint (set -e).

# A ClickHouse string literal: backslashes and single quotes escaped.
dvcpulse_sql_string() {
    local value=${1//\\/\\\\}
    printf "'%s'" "${value//\'/\\\'}"
}

dvcpulse_ingest_password=$(dvcpulse_sql_string "${CLICKHOUSE_INGEST_PASSWORD:?CLICKHOUSE_INGEST_PASSWORD is not set}")
dvcpulse_grafana_password=$(dvcpulse_sql_string "${CLICKHOUSE_GRAFANA_PASSWORD:?CLICKHOUSE_GRAFANA_PASSWORD is not set}")
dvcpulse_analyst_password=$(dvcpulse_sql_string "${CLICKHOUSE_ANALYST_PASSWORD:?CLICKHOUSE_ANALYST_PASSWORD is not set}")

echo "$0: creating the dvcpulse users ingest, grafana, analyst"
clickhouse-client --host 127.0.0.1 --user "${CLICKHOUSE_USER:-default}" --password "${CLICKHOUSE_PASSWORD:-}" \
    --multiquery <<SQL
CREATE DATABASE IF NOT EXISTS dvcpulse;

CREATE SETTINGS PROFILE IF NOT EXISTS dvcpulse_dashboards
    SETTINGS readonly = 1, max_execution_time = 60 MIN 1 MAX 300 CHANGEABLE_IN_READONLY;
CREATE SETTINGS PROFILE IF NOT EXISTS dvcpulse_analysts
    SETTINGS readonly = 2, max_execution_time = 300 MIN 1 MAX 3600;

CREATE USER IF NOT EXISTS ingest IDENTIFIED WITH sha256_password BY ${dvcpulse_ingest_password}
    DEFAULT DATABASE dvcpulse;
CREATE USER IF NOT EXISTS grafana IDENTIFIED WITH sha256_password BY ${dvcpulse_grafana_password}
    DEFAULT DATABASE dvcpulse SETTINGS PROFILE 'dvcpulse_dashboards';
CREATE USER IF NOT EXISTS analyst IDENTIFIED WITH sha256_password BY ${dvcpulse_analyst_password}
    DEFAULT DATABASE dvcpulse SETTINGS PROFILE 'dvcpulse_analysts';

GRANT SELECT, INSERT ON dvcpulse.* TO ingest;
GRANT SELECT ON dvcpulse.* TO grafana;
GRANT SELECT ON dvcpulse.* TO analyst;
SQL

unset dvcpulse_ingest_password dvcpulse_grafana_password dvcpulse_analyst_password
unset -f dvcpulse_sql_string
