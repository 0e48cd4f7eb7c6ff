"""One typed settings object, read from the environment and `.env`.

Unset `KAFKA_BOOTSTRAP` means "use the local Kafka broker dvcpulse starts"; unset `CLICKHOUSE_DSN` means the
embedded ClickHouse engine (chdb) under the data dir. Every setting is listed in deploy/CONFIGURATION.md.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from dvcpulse.models.lateness import HOUR_MS, Lateness
from dvcpulse.models.privacy import DEV_PII_KEY


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DVCPULSE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), description="The local Kafka broker's and chdb's data live here.")

    # Kafka
    kafka_bootstrap: str | None = Field(
        None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP", "DVCPULSE_KAFKA_BOOTSTRAP"),
        description="host:port[,host:port]; unset means the local Kafka broker that dvcpulse starts.",
    )
    kafka_security_protocol: str = Field(
        "PLAINTEXT", validation_alias=AliasChoices("KAFKA_SECURITY_PROTOCOL", "DVCPULSE_KAFKA_SECURITY_PROTOCOL")
    )
    kafka_sasl_mechanism: str | None = Field(
        None, validation_alias=AliasChoices("KAFKA_SASL_MECHANISM", "DVCPULSE_KAFKA_SASL_MECHANISM")
    )
    kafka_sasl_username: str | None = Field(
        None, validation_alias=AliasChoices("KAFKA_SASL_USERNAME", "DVCPULSE_KAFKA_SASL_USERNAME")
    )
    kafka_sasl_password: SecretStr | None = Field(
        None, validation_alias=AliasChoices("KAFKA_SASL_PASSWORD", "DVCPULSE_KAFKA_SASL_PASSWORD")
    )
    kafka_ssl_cafile: Path | None = Field(
        None, validation_alias=AliasChoices("KAFKA_SSL_CAFILE", "DVCPULSE_KAFKA_SSL_CAFILE")
    )
    kafka_compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        "zstd",
        description="Compression of what dvcpulse produces (envelopes, forwarded events, dead letters): several "
        "times fewer bytes for the broker to store and send; consumers decompress transparently.",
    )
    events_topic: str = "dvc.filing-events"
    dead_letter_topic: str = "dvc.filing-events.dlq"
    partitions: int = Field(
        8, ge=1, le=1024, description="Partitions of the events topic (records routed by CRC-32 of record_id)."
    )
    replication_factor: int = Field(1, ge=1)

    # ClickHouse
    clickhouse_dsn: str | None = Field(
        None,
        validation_alias=AliasChoices("CLICKHOUSE_DSN", "DVCPULSE_CLICKHOUSE_DSN"),
        description="chdb:///path or http(s)://user:pass@host:8123/db; unset = chdb under data_dir.",
    )
    clickhouse_database: str = "dvcpulse"

    # Processing
    app_id: str = "dvcpulse"
    batch_size: int = Field(
        100, ge=1, description="Max Kafka messages per batch, applied and written together (~100 events each)."
    )
    stream_buffer_messages: int = Field(
        16, ge=4, description="Faust's per-partition stream buffer (stream_buffer_maxsize), in messages."
    )
    batch_seconds: float = Field(0.25, gt=0, description="Max wait before a partial batch is processed.")
    commit_seconds: float = Field(
        30.0,
        gt=0,
        description="How often Kafka offsets are committed. They only tell a restarted worker where to resume "
        "reading (the ClickHouse checkpoint decides what was applied; messages below it are skipped unread).",
    )
    late_horizon_hours: float = Field(
        7 * 24,
        gt=0,
        description="An event whose time is more than this before its Kafka message's timestamp (its arrival) is "
        "late: kept in history, counted in no aggregate. Backfills: `dvcpulse publish --backfill`.",
    )
    future_tolerance_hours: float = Field(
        1.0,
        gt=0,
        description="An event whose time is more than this after its Kafka message's timestamp is dead-lettered "
        "(a wrong clock or time zone at the portal).",
    )
    max_records: int = Field(
        200_000,
        ge=1,
        description="Filings a worker keeps in memory (shared by its partitions); colder ones are read back from "
        "ClickHouse when an event for them arrives, so memory does not grow with the history.",
    )
    max_cells: int = Field(
        200_000,
        ge=1,
        description="Cells of each grain (minute, hour, day, month, day by channel) a worker keeps in memory "
        "(shared likewise); colder ones are read back likewise.",
    )
    session_timeout_seconds: float = Field(
        10.0, gt=0, description="Kafka group session timeout: how soon a dead worker's partitions move."
    )
    worker_id: str | None = Field(
        None,
        description="Stable name of this worker (Kafka static group membership): a restarted worker takes its "
        "place back at once instead of waiting for its old session to expire. Unique per running worker.",
    )
    web_port: int = Field(6066, description="Faust web port; each worker on a host needs its own.")
    pii_key: SecretStr = Field(SecretStr(DEV_PII_KEY), description="HMAC key for citizen identifiers.")

    def lateness(self) -> Lateness:
        return Lateness(
            horizon_ms=int(self.late_horizon_hours * HOUR_MS),
            future_tolerance_ms=int(self.future_tolerance_hours * HOUR_MS),
        )

    @property
    def producer_compression(self) -> str | None:
        """kafka_compression in aiokafka's vocabulary (None = uncompressed)."""
        return None if self.kafka_compression == "none" else self.kafka_compression

    def as_environment(self) -> dict[str, str]:
        """Every setting as the DVCPULSE_* variable that reproduces it in a child process."""
        env = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"DVCPULSE_{name.upper()}"] = str(value)
        return env

    @property
    def chdb_path(self) -> Path:
        return (self.data_dir / "chdb").resolve()

    @property
    def broker_dir(self) -> Path:
        return (self.data_dir / "broker").resolve()

    def kafka_client_options(self) -> dict[str, object]:
        """SASL/TLS options in aiokafka's vocabulary, passed through unchanged."""
        options: dict[str, object] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_sasl_mechanism:
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = (
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            )
        if self.kafka_security_protocol.upper() in {"SSL", "SASL_SSL"}:
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(
                cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None
            )
        return options


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
