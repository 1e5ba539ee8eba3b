"""deploy/docker-compose.production.yml: the guide's resource limits and restart policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from rsf_server.config import ServerSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _services(name: str) -> dict[str, Any]:
    document = yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))
    services: dict[str, Any] = document["services"]
    return services


def test_backend_limits_and_restart_policy_match_the_guide() -> None:
    deploy = _services("docker-compose.production.yml")["rsf_backend"]["deploy"]
    assert deploy["resources"] == {
        "limits": {"cpus": "1.0", "memory": "1G"},
        "reservations": {"cpus": "0.5", "memory": "512M"},
    }
    assert deploy["restart_policy"] == {
        "condition": "on-failure",
        "delay": "30s",
        "max_attempts": 3,
        "window": "120s",
    }


def test_mongodb_limits_match_the_guide() -> None:
    deploy = _services("docker-compose.production.yml")["rsf_mongodb"]["deploy"]
    assert deploy["resources"] == {
        "limits": {"cpus": "2.0", "memory": "2G"},
        "reservations": {"cpus": "1.0", "memory": "1G"},
    }


def test_overrides_only_services_of_the_base_file() -> None:
    base = _services("docker-compose.yml")
    assert set(_services("docker-compose.production.yml")) <= set(base)


def test_environment_names_are_ones_the_server_reads() -> None:
    env = _services("docker-compose.production.yml")["rsf_backend"]["environment"]
    settings = ServerSettings(**{name: value for name, value in env.items() if name != "NODE_ENV"})
    assert settings.rate_limit_window_seconds == 900
    assert (settings.rate_limit_anonymous, settings.rate_limit_premium) == (100, 1000)
    assert (settings.mongodb_max_pool_size, settings.mongodb_min_pool_size) == (10, 2)
