"""The guide's environment variable names keep working through one settings object."""

from __future__ import annotations

import pytest
from rsf_observability import ObservabilitySettings


def test_guide_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.setenv("LOKI_HOST", "http://127.0.0.1:3100")
    monkeypatch.setenv("NODE_ENV", "production")
    monkeypatch.setenv("LOKI_LABELS", "team=settle, region=in")
    settings = ObservabilitySettings()
    assert settings.log_level == "warn"
    assert settings.loki_host == "http://127.0.0.1:3100"
    assert settings.environment == "production"
    assert settings.resolved_log_format == "json"
    assert settings.loki_labels == {"team": "settle", "region": "in"}


def test_development_defaults_to_dev_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NODE_ENV", raising=False)
    settings = ObservabilitySettings()
    assert settings.environment == "development"
    assert settings.resolved_log_format == "dev"
    assert "authorization" in settings.redact_keys
