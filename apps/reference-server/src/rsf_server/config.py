"""The reference server's settings, read from the environment like the guide's deployment.

``MONGODB_URI`` unset means the embedded store (nx-27017) is started in ``RSF_DATA_DIR``.
The SDK's :class:`~rsf_observability.settings.ObservabilitySettings` is composed, not copied:
its variables (``LOG_LEVEL``, ``LOKI_HOST``, ``NODE_ENV`` ...) keep their names.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from rsf_observability.settings import ObservabilitySettings

STORE_URI_FILE = "store.uri"
"""In ``RSF_DATA_DIR``: where ``rsf-ops`` finds the embedded store of a running ``rsf-server``."""


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def _read_secret_file(path: Path | None) -> str | None:
    if path is None:
        return None
    value = path.read_text(encoding="utf-8").strip()
    return value or None


def _split_pairs(value: object) -> object:
    """``"np.example.com|k1=BASE64,sa.example.com|k2=BASE64"`` -> dict (docker-friendly)."""
    if isinstance(value, str):
        pairs = (item.split("=", 1) for item in value.split(",") if "=" in item)
        return {key.strip(): val.strip() for key, val in pairs}
    return value


class ServerSettings(BaseSettings):
    """Everything ``rsf-server`` and ``rsf-ops`` read; defaults run a local development server."""

    model_config = SettingsConfigDict(env_prefix="RSF_", extra="ignore", populate_by_name=True)

    # --- network and storage --------------------------------------------------------------
    host: str = Field("127.0.0.1", validation_alias=_env("HOST", "RSF_HOST"))
    port: int = Field(3000, ge=0, le=65535, validation_alias=_env("PORT", "RSF_PORT"))
    mongodb_uri: str | None = Field(None, validation_alias=_env("MONGODB_URI", "RSF_MONGODB_URI"))
    mongodb_db: str = Field("rsf-utility", validation_alias=_env("MONGODB_DB", "RSF_MONGODB_DB"))
    data_dir: Path = Field(Path(".rsf-data"), validation_alias=_env("RSF_DATA_DIR", "DATA_DIR"))
    max_body_bytes: int = Field(1024 * 1024, gt=0, validation_alias=_env("RSF_MAX_BODY_BYTES"))
    db_timeout_ms: int = Field(5000, gt=0, validation_alias=_env("RSF_DB_TIMEOUT_MS"))

    # --- ONDC identity and the settlement agency ------------------------------------------
    subscriber_id: str | None = Field(
        None, validation_alias=_env("SUBSCRIBER_ID", "RSF_SUBSCRIBER_ID")
    )
    subscriber_url: str | None = Field(
        None, validation_alias=_env("SUBSCRIBER_URL", "RSF_SUBSCRIBER_URL")
    )
    unique_key_id: str | None = Field(
        None, validation_alias=_env("UNIQUE_KEY_ID", "RSF_UNIQUE_KEY_ID")
    )
    signing_private_key: SecretStr | None = Field(
        None, validation_alias=_env("SIGNING_PRIVATE_KEY", "RSF_SIGNING_PRIVATE_KEY")
    )
    signing_public_key: str | None = Field(
        None, validation_alias=_env("SIGNING_PUBLIC_KEY", "RSF_SIGNING_PUBLIC_KEY")
    )
    settlement_agency_url: str | None = Field(
        None, validation_alias=_env("SETTLEMENT_AGENCY_URL", "RSF_SETTLEMENT_AGENCY_URL")
    )
    settlement_agency_id: str | None = Field(
        None, validation_alias=_env("SETTLEMENT_AGENCY_ID", "RSF_SETTLEMENT_AGENCY_ID")
    )
    settlement_agency_health_path: str = Field(
        "/health", validation_alias=_env("RSF_SETTLEMENT_AGENCY_HEALTH_PATH")
    )
    # Senders' public keys for inbound verification: "subscriber_id|unique_key_id=base64,...".
    public_keys: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, validation_alias=_env("RSF_PUBLIC_KEYS", "PUBLIC_KEYS")
    )
    registry_lookup_url: str | None = Field(
        None, validation_alias=_env("REGISTRY_LOOKUP_URL", "RSF_REGISTRY_LOOKUP_URL")
    )
    # The spec: verification is on by default and only switched off explicitly (development).
    verify_signatures: bool = Field(True, validation_alias=_env("RSF_VERIFY_SIGNATURES"))

    # --- /ui authentication ---------------------------------------------------------------
    jwt_secret: SecretStr | None = Field(
        None, validation_alias=_env("JWT_SECRET", "RSF_JWT_SECRET")
    )
    jwt_secret_file: Path | None = Field(
        None, validation_alias=_env("JWT_SECRET_FILE", "RSF_JWT_SECRET_FILE")
    )
    jwt_default_ttl: int = Field(3600, gt=0, validation_alias=_env("RSF_JWT_TTL"))
    jwt_max_ttl: int = Field(86400, gt=0, validation_alias=_env("RSF_JWT_MAX_TTL"))
    # When set, sign-token also needs this client secret; otherwise any listed client id works.
    ui_client_secret: SecretStr | None = Field(
        None, validation_alias=_env("UI_CLIENT_SECRET", "RSF_UI_CLIENT_SECRET")
    )
    alert_webhook_token_file: Path | None = Field(
        None, validation_alias=_env("ALERT_WEBHOOK_TOKEN_FILE", "RSF_ALERT_WEBHOOK_TOKEN_FILE")
    )

    # --- operations -----------------------------------------------------------------------
    business_metrics_interval: float = Field(
        3600.0, gt=0, validation_alias=_env("RSF_BUSINESS_METRICS_INTERVAL")
    )
    stuck_after_minutes: float = Field(30.0, gt=0, validation_alias=_env("RSF_STUCK_AFTER_MINUTES"))

    # --- performance (the guide's "Performance Optimization"; docs/operations.md) ---------
    mongodb_max_pool_size: int = Field(10, gt=0, validation_alias=_env("MONGODB_MAX_POOL_SIZE"))
    mongodb_min_pool_size: int = Field(2, ge=0, validation_alias=_env("MONGODB_MIN_POOL_SIZE"))
    mongodb_max_idle_time_ms: int = Field(
        30000, gt=0, validation_alias=_env("MONGODB_MAX_IDLE_TIME_MS")
    )
    # The guide's 45000 is not the default: with it, cancelling an in-flight pymongo async
    # operation (lifespan shutdown) hung on nx-27017; set it explicitly to opt in.
    mongodb_socket_timeout_ms: int | None = Field(
        None, gt=0, validation_alias=_env("MONGODB_SOCKET_TIMEOUT_MS")
    )
    compression_enabled: bool = Field(True, validation_alias=_env("COMPRESSION_ENABLED"))
    compression_minimum_size: int = Field(
        1024, ge=0, validation_alias=_env("COMPRESSION_MIN_BYTES")
    )
    compression_level: int = Field(6, ge=1, le=9, validation_alias=_env("COMPRESSION_LEVEL"))
    rate_limit_enabled: bool = Field(True, validation_alias=_env("RATE_LIMIT_ENABLED"))
    rate_limit_window_seconds: int = Field(
        900, gt=0, validation_alias=_env("RATE_LIMIT_WINDOW_SECONDS")
    )
    rate_limit_anonymous: int = Field(100, gt=0, validation_alias=_env("RATE_LIMIT_ANONYMOUS"))
    rate_limit_authenticated: int = Field(
        500, gt=0, validation_alias=_env("RATE_LIMIT_AUTHENTICATED")
    )
    rate_limit_premium: int = Field(1000, gt=0, validation_alias=_env("RATE_LIMIT_PREMIUM"))
    response_cache_enabled: bool = Field(True, validation_alias=_env("RESPONSE_CACHE_ENABLED"))
    response_cache_ttl_seconds: float = Field(
        5.0, gt=0, validation_alias=_env("RESPONSE_CACHE_TTL_SECONDS")
    )
    response_cache_max_entries: int = Field(
        1000, gt=0, validation_alias=_env("RESPONSE_CACHE_MAX_ENTRIES")
    )

    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    @field_validator("public_keys", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        return _split_pairs(value)

    @property
    def uses_embedded_store(self) -> bool:
        return not self.mongodb_uri

    @property
    def settlement_agency_health_url(self) -> str | None:
        if not self.settlement_agency_url:
            return None
        return self.settlement_agency_url.rstrip("/") + self.settlement_agency_health_path

    def resolved_jwt_secret(self) -> str:
        """The configured secret (value or file); a random per-process one when none is set.

        A random secret keeps a development server safe by default; its tokens end with the
        process, which is why production must configure ``JWT_SECRET``.
        """
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        from_file = _read_secret_file(self.jwt_secret_file)
        if from_file:
            return from_file
        return _process_secret()

    def resolved_observability(self) -> ObservabilitySettings:
        """The SDK settings, with the webhook token read from its file when one is configured."""
        token = _read_secret_file(self.alert_webhook_token_file)
        if token and not self.observability.alert_webhook_token:
            return self.observability.model_copy(update={"alert_webhook_token": token})
        return self.observability


_SECRET: list[str] = []


def _process_secret() -> str:
    if not _SECRET:
        _SECRET.append(secrets.token_urlsafe(32))
    return _SECRET[0]
