"""Server settings from the environment, secrets from files, and the /ui token rules."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
from rsf_server.app import create_app
from rsf_server.config import ServerSettings
from rsf_server.tokens import InvalidToken, issue_token, verify_token


def test_defaults_follow_the_guide(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MONGODB_URI", "MONGODB_DB", "HOST", "PORT", "RSF_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = ServerSettings()
    assert (settings.host, settings.port, settings.mongodb_db) == ("127.0.0.1", 3000, "rsf-utility")
    assert settings.uses_embedded_store
    assert settings.data_dir == Path(".rsf-data")
    assert settings.verify_signatures is True


def test_environment_and_secret_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "jwt").write_text("from-a-file\n")
    (tmp_path / "hook").write_text("hook-token\n")
    monkeypatch.setenv("MONGODB_URI", "mongodb://db.example:27017")
    monkeypatch.setenv("PORT", "3100")
    monkeypatch.setenv("JWT_SECRET_FILE", str(tmp_path / "jwt"))
    monkeypatch.setenv("ALERT_WEBHOOK_TOKEN_FILE", str(tmp_path / "hook"))
    monkeypatch.setenv("RSF_PUBLIC_KEYS", "sa.example.com=AAA,np.example.com|k2=BBB")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = ServerSettings()
    assert not settings.uses_embedded_store
    assert settings.port == 3100
    assert settings.resolved_jwt_secret() == "from-a-file"
    assert settings.resolved_observability().alert_webhook_token == "hook-token"
    assert settings.observability.log_level == "debug"
    assert settings.public_keys == {"sa.example.com": "AAA", "np.example.com|k2": "BBB"}


async def test_webhook_token_file_protects_the_alert_webhook(
    mongo_uri: str, db_name: str, tmp_path: Path
) -> None:
    (tmp_path / "hook").write_text("hook-token\n")
    settings = ServerSettings(
        mongodb_uri=mongo_uri,
        mongodb_db=db_name,
        jwt_secret="s",
        alert_webhook_token_file=tmp_path / "hook",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rsf.test") as http:
            payload = {
                "version": "4",
                "groupKey": "{}:{}",
                "truncatedAlerts": 0,
                "status": "firing",
                "receiver": "web.hook",
                "groupLabels": {},
                "commonLabels": {},
                "commonAnnotations": {},
                "externalURL": "http://alertmanager:9093",
                "alerts": [],
            }
            denied = await http.post("/api/webhooks/alerts", json=payload)
            assert denied.status_code == 401
            allowed = await http.post(
                "/api/webhooks/alerts",
                json=payload,
                headers={"Authorization": "Bearer hook-token"},
            )
            assert allowed.status_code == 200, allowed.text
            assert allowed.json()["received"] == 0


def test_tokens_round_trip_and_reject_forgeries() -> None:
    token = issue_token("secret", "ui", 60, now=1_000)
    assert verify_token("secret", token, now=1_030)["sub"] == "ui"
    with pytest.raises(InvalidToken, match="expired"):
        verify_token("secret", token, now=1_060)
    with pytest.raises(InvalidToken, match="signature"):
        verify_token("other-secret", token, now=1_030)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        verify_token("secret", f"{header}.{forged}.{signature}", now=1_030)
    none_header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        verify_token("secret", f"{none_header}.{payload}.", now=1_030)
    with pytest.raises(InvalidToken):
        verify_token("secret", "not-a-token", now=1_030)


async def test_app_without_uri_runs_its_own_embedded_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    app = create_app(ServerSettings(data_dir=tmp_path / "data", jwt_secret="s"))
    async with app.router.lifespan_context(app):
        store = app.state.rsf.embedded_store
        assert store is not None
        assert store.running
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rsf.test") as http:
            detailed = (await http.get("/health/detailed")).json()
            assert detailed["services"]["database"]["status"] == "healthy"
    assert not store.running
    assert app.state.rsf.embedded_store is None
    assert (tmp_path / "data" / "nx-27017").is_dir()
