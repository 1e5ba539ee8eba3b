"""One settings object for the whole SDK, read from the environment.

The variable names of the RSF operations guide (``LOG_LEVEL``, ``LOKI_HOST``, ``NODE_ENV``, ...)
keep working; every field also has an ``RSF_`` prefixed name for deployments that namespace
their variables. Standard ``OTEL_*`` variables are read by OpenTelemetry itself.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevelName = Literal["error", "warn", "info", "debug"]
LogFormat = Literal["auto", "dev", "json"]

DEFAULT_REDACT_KEYS: tuple[str, ...] = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api_key",
    "apikey",
    "password",
    "secret",
    "token",
    "access_token",
    "refresh_token",
    "account_number",
    "ifsc_code",
    "private_key",
    "signing_private_key",
    "encryption_private_key",
)


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _split_pairs(value: object) -> object:
    """``"team=settle,region=in"`` -> ``{"team": "settle", "region": "in"}``."""
    if isinstance(value, str):
        pairs = (item.split("=", 1) for item in value.split(",") if "=" in item)
        return {key.strip(): val.strip() for key, val in pairs}
    return value


CsvList = Annotated[list[str], NoDecode]
PairDict = Annotated[dict[str, str], NoDecode]


class ObservabilitySettings(BaseSettings):
    """Everything the SDK can be told; defaults follow the operations guide."""

    model_config = SettingsConfigDict(
        env_prefix="RSF_",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    # --- identity -------------------------------------------------------------------------
    service_name: str = Field(
        "rsf-utility", validation_alias=_env("SERVICE_NAME", "RSF_SERVICE_NAME")
    )
    service_version: str = Field(
        "0.1.0",
        validation_alias=_env("SERVICE_VERSION", "RSF_SERVICE_VERSION", "npm_package_version"),
    )
    environment: str = Field(
        "development", validation_alias=_env("NODE_ENV", "RSF_ENVIRONMENT", "ENVIRONMENT")
    )
    instance: str = Field("", validation_alias=_env("INSTANCE", "RSF_INSTANCE", "HOSTNAME"))

    # --- logging --------------------------------------------------------------------------
    log_level: LogLevelName = Field("info", validation_alias=_env("LOG_LEVEL", "RSF_LOG_LEVEL"))
    log_format: LogFormat = Field("auto", validation_alias=_env("LOG_FORMAT", "RSF_LOG_FORMAT"))
    log_body_max_bytes: int = Field(4096, ge=0, validation_alias=_env("RSF_LOG_BODY_MAX_BYTES"))
    redact_keys: CsvList = Field(
        default_factory=lambda: list(DEFAULT_REDACT_KEYS), validation_alias=_env("RSF_REDACT_KEYS")
    )

    # --- correlation ----------------------------------------------------------------------
    correlation_header: str = Field(
        "x-correlation-id", validation_alias=_env("RSF_CORRELATION_HEADER")
    )

    # --- Loki -----------------------------------------------------------------------------
    loki_host: str | None = Field(None, validation_alias=_env("LOKI_HOST", "RSF_LOKI_HOST"))
    loki_job: str = Field("rsf-utility", validation_alias=_env("LOKI_JOB", "RSF_LOKI_JOB"))
    loki_app: str = Field("rsf-utility", validation_alias=_env("LOKI_APP", "RSF_LOKI_APP"))
    loki_labels: PairDict = Field(
        default_factory=dict, validation_alias=_env("LOKI_LABELS", "RSF_LOKI_LABELS")
    )
    loki_username: str | None = Field(
        None, validation_alias=_env("LOKI_USERNAME", "RSF_LOKI_USERNAME")
    )
    loki_password: str | None = Field(
        None, validation_alias=_env("LOKI_PASSWORD", "RSF_LOKI_PASSWORD")
    )
    loki_tenant_id: str | None = Field(
        None, validation_alias=_env("LOKI_TENANT_ID", "RSF_LOKI_TENANT_ID")
    )
    loki_batch_interval: float = Field(
        5.0, gt=0, validation_alias=_env("LOKI_BATCH_INTERVAL", "RSF_LOKI_BATCH_INTERVAL")
    )
    loki_batch_size: int = Field(500, gt=0, validation_alias=_env("RSF_LOKI_BATCH_SIZE"))
    loki_buffer_size: int = Field(10_000, gt=0, validation_alias=_env("RSF_LOKI_BUFFER_SIZE"))
    loki_timeout: float = Field(5.0, gt=0, validation_alias=_env("RSF_LOKI_TIMEOUT"))
    loki_max_retries: int = Field(5, ge=0, validation_alias=_env("RSF_LOKI_MAX_RETRIES"))
    loki_shutdown_timeout: float = Field(
        5.0, gt=0, validation_alias=_env("RSF_LOKI_SHUTDOWN_TIMEOUT")
    )

    # --- metrics --------------------------------------------------------------------------
    metrics_path: str = Field("/metrics", validation_alias=_env("RSF_METRICS_PATH"))
    metrics_skip_paths: CsvList = Field(
        default_factory=lambda: ["/metrics", "/health", "/health/*", "/ui/health/*"],
        validation_alias=_env("RSF_METRICS_SKIP_PATHS"),
    )
    slow_request_ms: float = Field(1000.0, ge=0, validation_alias=_env("RSF_SLOW_REQUEST_MS"))
    # prometheus_client's ``*_created`` samples: one more series per counter/histogram child that
    # Prometheus stores as a separate gauge and no dashboard here reads; off by default
    # (instrument() switches them process-wide, off unless this is true). docs/performance.md.
    metrics_created_series: bool = Field(False, validation_alias=_env("RSF_METRICS_CREATED_SERIES"))
    system_metrics_interval: float = Field(
        30.0, gt=0, validation_alias=_env("RSF_SYSTEM_METRICS_INTERVAL")
    )

    # --- health ---------------------------------------------------------------------------
    health_check_timeout: float = Field(
        2.0, gt=0, validation_alias=_env("RSF_HEALTH_CHECK_TIMEOUT")
    )
    health_cache_ttl: float = Field(1.0, ge=0, validation_alias=_env("RSF_HEALTH_CACHE_TTL"))
    health_interval: float = Field(10.0, gt=0, validation_alias=_env("RSF_HEALTH_INTERVAL"))
    health_cpu_threshold: float = Field(90.0, validation_alias=_env("RSF_HEALTH_CPU_THRESHOLD"))
    health_memory_threshold: float = Field(
        90.0, validation_alias=_env("RSF_HEALTH_MEMORY_THRESHOLD")
    )
    health_disk_threshold: float = Field(90.0, validation_alias=_env("RSF_HEALTH_DISK_THRESHOLD"))

    # --- alert webhook --------------------------------------------------------------------
    alert_webhook_token: str | None = Field(
        None, validation_alias=_env("ALERT_WEBHOOK_TOKEN", "RSF_ALERT_WEBHOOK_TOKEN")
    )
    alert_webhook_username: str | None = Field(
        None, validation_alias=_env("RSF_ALERT_WEBHOOK_USERNAME")
    )
    alert_webhook_password: str | None = Field(
        None, validation_alias=_env("RSF_ALERT_WEBHOOK_PASSWORD")
    )
    alert_webhook_max_bytes: int = Field(
        5 * 1024 * 1024, gt=0, validation_alias=_env("RSF_ALERT_WEBHOOK_MAX_BYTES")
    )
    alert_debug_duration: float = Field(
        600.0, gt=0, validation_alias=_env("RSF_ALERT_DEBUG_DURATION")
    )
    alert_handler_timeout: float = Field(
        10.0, gt=0, validation_alias=_env("RSF_ALERT_HANDLER_TIMEOUT")
    )

    @field_validator("redact_keys", "metrics_skip_paths", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("loki_labels", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        return _split_pairs(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        if isinstance(value, str):
            lowered = value.strip().lower()
            return {"warning": "warn", "critical": "error", "fatal": "error"}.get(lowered, lowered)
        return value

    @property
    def resolved_log_format(self) -> Literal["dev", "json"]:
        """``auto`` means the guide's rule: the dev format in development, JSON elsewhere."""
        if self.log_format != "auto":
            return self.log_format
        return "dev" if self.environment == "development" else "json"
