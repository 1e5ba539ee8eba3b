"""Alertmanager's webhook payload (version 4) as pydantic models.

Attributes are snake_case; the wire names (``groupKey``, ``truncatedAlerts``, ``externalURL``,
``startsAt``, ``endsAt``, ``generatorURL``...) are the aliases, so validation errors name the
field exactly as it appears in the JSON and ``model_dump(by_alias=True)`` reproduces the payload.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AlertStatus = Literal["firing", "resolved"]

_ZERO_TIME_YEAR = 1  # Go's zero time, "0001-01-01T00:00:00Z": an alert with no end yet


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class AlertmanagerAlert(_Wire):
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(None, alias="endsAt")
    generator_url: str = Field("", alias="generatorURL")
    fingerprint: str = Field(min_length=1)

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "unknown")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "unknown")

    @property
    def description(self) -> str | None:
        return self.annotations.get("description") or self.annotations.get("summary")

    @property
    def end(self) -> datetime | None:
        """``endsAt`` unless it is Go's zero time (Alertmanager's "no end yet")."""
        if self.ends_at is None or self.ends_at.year <= _ZERO_TIME_YEAR:
            return None
        return self.ends_at


class AlertmanagerWebhook(_Wire):
    """One notification: a group of alerts sharing ``groupLabels``."""

    version: Literal["4"]
    group_key: str = Field(alias="groupKey")
    truncated_alerts: int = Field(0, ge=0, alias="truncatedAlerts")
    status: AlertStatus
    receiver: str
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field("", alias="externalURL")
    alerts: list[AlertmanagerAlert]
