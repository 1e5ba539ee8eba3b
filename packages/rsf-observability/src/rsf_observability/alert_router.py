"""The guide's ``POST /api/webhooks/alerts``: Alertmanager's webhook receiver, plus a listing.

Every alert is logged ("Alert received" on ``rsf.alerts``), counted in
``alerts_total{severity,status}``, stored through an :class:`AlertStore` (idempotent on
fingerprint, startsAt and status) and, when critical, firing and new, handed to the handlers.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from rsf_observability.alert_handlers import AlertHandlers, default_alert_handlers
from rsf_observability.alert_memory_store import InMemoryAlertStore
from rsf_observability.alert_models import AlertmanagerAlert, AlertmanagerWebhook
from rsf_observability.alert_store import AlertQuery, AlertRecord, AlertStore
from rsf_observability.errors import ProblemError, problem_response, read_json_body
from rsf_observability.metrics import RsfMetrics, default_metrics
from rsf_observability.sanitize import escape_control
from rsf_observability.settings import ObservabilitySettings

logger = logging.getLogger("rsf.alerts")

KNOWN_SEVERITIES = frozenset({"critical", "warning", "info"})
"""``alerts_total`` severity label values; any other severity (or none) counts as ``unknown``."""

MAX_PAGE_LIMIT = 500
_MAX_ERRORS_SHOWN = 20
_MAX_LOGGED_TEXT = 1000


def severity_label(severity: str) -> str:
    """A bounded label value: the guide's severities, else ``unknown``."""
    lowered = severity.strip().lower()
    return lowered if lowered in KNOWN_SEVERITIES else "unknown"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def record_to_dict(record: AlertRecord) -> dict[str, Any]:
    """A stored alert as the listing shows it (camelCase, like the webhook payload)."""
    return {
        "alertname": record.alertname,
        "severity": record.severity,
        "status": record.status,
        "fingerprint": record.fingerprint,
        "startsAt": _iso(record.starts_at),
        "endsAt": _iso(record.ends_at),
        "receivedAt": _iso(record.received_at),
        "description": record.description,
        "labels": dict(record.labels),
        "annotations": dict(record.annotations),
        "generatorURL": record.generator_url,
        "handledBy": list(record.handled_by),
    }


def _validation_details(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {
            "field": ".".join(str(part) for part in error["loc"]) or "(body)",
            "message": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors(include_url=False, include_input=False)[:_MAX_ERRORS_SHOWN]
    ]


def _log_text(value: str | None) -> str | None:
    return None if value is None else escape_control(value[:_MAX_LOGGED_TEXT])


class _Credentials:
    """Bearer token and/or basic auth from settings, compared in constant time."""

    def __init__(self, settings: ObservabilitySettings) -> None:
        self.token = settings.alert_webhook_token or None
        self.username = settings.alert_webhook_username
        self.password = settings.alert_webhook_password or ""

    @property
    def required(self) -> bool:
        return self.token is not None or self.username is not None

    @property
    def challenge(self) -> str:
        return 'Bearer realm="alerts"' if self.token is not None else 'Basic realm="alerts"'

    def accepts(self, header: str) -> bool:
        if not self.required:
            return True
        scheme, _, value = header.strip().partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "bearer" and self.token is not None:
            return hmac.compare_digest(value.encode(), self.token.encode())
        if scheme == "basic" and self.username is not None:
            try:
                decoded = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return False
            user, sep, password = decoded.partition(b":")
            user_ok = hmac.compare_digest(user, self.username.encode())
            password_ok = hmac.compare_digest(password, self.password.encode())
            return bool(sep) and user_ok and password_ok
        return False


class AlertWebhook:
    """The webhook receiver and the listing, bound to one store, metrics and handlers.

    Use :attr:`routes` in any Starlette/FastAPI app, or :func:`alert_webhook_routes`.
    """

    def __init__(
        self,
        store: AlertStore | None = None,
        *,
        metrics: RsfMetrics | None = None,
        settings: ObservabilitySettings | None = None,
        handlers: AlertHandlers | None = None,
        path: str = "/api/webhooks/alerts",
    ) -> None:
        self.settings = settings or ObservabilitySettings()
        self.store: AlertStore = store if store is not None else InMemoryAlertStore()
        self.metrics = metrics or default_metrics()
        self.handlers = handlers if handlers is not None else default_alert_handlers(self.settings)
        self.path = path
        self._credentials = _Credentials(self.settings)

    @property
    def routes(self) -> list[BaseRoute]:
        return [
            Route(self.path, self.receive, methods=["POST"], name="alert_webhook"),
            Route(self.path, self.list_alerts, methods=["GET"], name="alert_list"),
        ]

    # --- endpoints --------------------------------------------------------------------------
    async def receive(self, request: Request) -> Response:
        try:
            self._authenticate(request)
            payload = await read_json_body(request, max_bytes=self.settings.alert_webhook_max_bytes)
            try:
                webhook = AlertmanagerWebhook.model_validate(payload)
            except ValidationError as exc:
                details = _validation_details(exc)
                raise ProblemError(
                    422, f"Invalid alert payload at {details[0]['field']}", details=details
                ) from exc
            await self.process(webhook)
        except ProblemError as exc:
            return self._problem(exc)
        except Exception:
            logger.exception("Alert webhook failed")
            return problem_response(500, "Alerts could not be processed")
        return JSONResponse({"received": len(webhook.alerts)})

    async def list_alerts(self, request: Request) -> Response:
        try:
            self._authenticate(request)
            query = _parse_query(request.query_params)
            page = await self.store.query(query)
        except ProblemError as exc:
            return self._problem(exc)
        return JSONResponse(
            {
                "items": [record_to_dict(record) for record in page.items],
                "total": page.total,
                "page": page.page,
                "limit": page.limit,
            }
        )

    # --- processing -------------------------------------------------------------------------
    async def process(self, webhook: AlertmanagerWebhook) -> int:
        """Log, count, store and dispatch every alert; how many were new."""
        stored = 0
        received_at = datetime.now(UTC)
        for alert in webhook.alerts:
            record = self._record(alert, received_at)
            self._log(record)
            self.metrics.alerts_total.labels(
                severity=severity_label(record.severity), status=record.status
            ).inc()
            if not await self.store.save(record):
                continue
            stored += 1
            if record.handled_by:
                self.handlers.dispatch(record)
        return stored

    def _record(self, alert: AlertmanagerAlert, received_at: datetime) -> AlertRecord:
        critical_firing = alert.severity.lower() == "critical" and alert.status == "firing"
        return AlertRecord(
            alertname=alert.alertname,
            severity=alert.severity,
            status=alert.status,
            fingerprint=alert.fingerprint,
            starts_at=alert.starts_at,
            ends_at=alert.end,
            received_at=received_at,
            labels=dict(alert.labels),
            annotations=dict(alert.annotations),
            description=alert.description,
            generator_url=alert.generator_url or None,
            handled_by=self.handlers.names_for(alert.alertname) if critical_firing else (),
        )

    @staticmethod
    def _log(record: AlertRecord) -> None:
        logger.warning(
            "Alert received",
            extra={
                "alertname": _log_text(record.alertname),
                "severity": _log_text(record.severity),
                "status": record.status,
                "description": _log_text(record.description),
                "fingerprint": _log_text(record.fingerprint),
                "startsAt": _iso(record.starts_at),
            },
        )

    # --- helpers ----------------------------------------------------------------------------
    def _authenticate(self, request: Request) -> None:
        if not self._credentials.accepts(request.headers.get("authorization", "")):
            logger.warning(
                "Alert webhook request rejected: missing or wrong credentials",
                extra={"path": request.url.path, "method": request.method},
            )
            raise ProblemError(401, "Missing or invalid credentials")

    def _problem(self, exc: ProblemError) -> Response:
        headers = {"WWW-Authenticate": self._credentials.challenge} if exc.status == 401 else None
        return problem_response(
            exc.status, exc.message, code=exc.code, details=exc.details, headers=headers
        )


def _parse_query(params: Mapping[str, str]) -> AlertQuery:
    status = params.get("status") or None
    if status is not None and status not in ("firing", "resolved"):
        raise ProblemError(422, "status must be firing or resolved", details={"field": "status"})
    page = _int_param(params, "page", 1, 1, 1_000_000)
    limit = _int_param(params, "limit", 50, 1, MAX_PAGE_LIMIT)
    return AlertQuery(
        status=status,
        severity=params.get("severity") or None,
        alertname=params.get("alertname") or None,
        page=page,
        limit=limit,
    )


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ProblemError(
            422, f"{name} must be an integer from {low} to {high}", details={"field": name}
        )
    return int(raw)


def alert_webhook_routes(
    store: AlertStore | None = None,
    *,
    metrics: RsfMetrics | None = None,
    settings: ObservabilitySettings | None = None,
    handlers: AlertHandlers | None = None,
    path: str = "/api/webhooks/alerts",
) -> list[BaseRoute]:
    """``POST`` and ``GET`` on ``path`` for any Starlette/FastAPI app (see :class:`AlertWebhook`)."""
    return AlertWebhook(
        store, metrics=metrics, settings=settings, handlers=handlers, path=path
    ).routes
