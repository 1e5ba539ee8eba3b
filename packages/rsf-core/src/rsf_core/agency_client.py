"""Send signed NTS10 messages to the settlement agency or a counterparty NP, and keep the record.

One message is serialised once and the *same bytes* go out on every retry, so a retried settle
carries the same message_id and the receiver can deduplicate it. Retries cover what a retry can
fix (connection errors, timeouts, 5xx) with exponential backoff; a NACK or a 4xx is an answer
and is returned at once. Every exchange is kept twice: the message itself in
``rsf_transactions`` (with its ACK status) and the audit record in ``rsf_payloads`` (request,
response, HTTP status, correlation id; secrets redacted).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from rsf_observability.context import get_correlation_id
from rsf_observability.outbound import instrument_httpx_client
from rsf_observability.sanitize import normalise_keys, redact
from rsf_observability.settings import DEFAULT_REDACT_KEYS

from rsf_core.acks import AckResult, parse_ack
from rsf_core.models import RsfPayload
from rsf_core.signing import sign_request
from rsf_core.transactions import (
    ACK_STATUS_ACK,
    ACK_STATUS_ERROR,
    ACK_STATUS_NACK,
    message_key,
    store_outgoing,
)

__all__ = [
    "AgencyClient",
    "ExchangeResult",
    "RetryPolicy",
    "SignerConfig",
    "action_url",
]

_log = logging.getLogger("rsf.agency_client")
# Bank details travel in MISC settles as ``account_no``; keep them out of the audit trail too.
_AUDIT_SECRET_KEYS = normalise_keys((*DEFAULT_REDACT_KEYS, "account_no"))


@dataclass(frozen=True)
class SignerConfig:
    """This NP's signing identity, as registered with the ONDC registry."""

    subscriber_id: str
    unique_key_id: str
    private_key_b64: str = field(repr=False)


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; waits ``base * 2**n`` seconds between them, at most ``max_delay``."""

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, failed_attempts: int) -> float:
        return float(min(self.max_delay, self.base_delay * 2 ** (failed_attempts - 1)))


@dataclass(frozen=True)
class ExchangeResult:
    """How a send ended: the parsed answer, or why there was none."""

    action: str
    url: str
    transaction_id: str
    message_id: str
    status_code: int | None  # the last HTTP status; None when no answer arrived at all
    ack: AckResult
    body: Any  # the last answer's parsed JSON (None when not JSON or no answer)
    attempts: int
    error: str | None = None  # set when no usable answer arrived (timeout, refused, 5xx)

    @property
    def acked(self) -> bool:
        return self.error is None and self.ack.acked

    @property
    def nacked(self) -> bool:
        """The receiver answered and refused (as opposed to: no answer)."""
        return self.error is None and not self.ack.acked

    @property
    def ack_status(self) -> str:
        if self.error is not None:
            return ACK_STATUS_ERROR
        return ACK_STATUS_ACK if self.ack.acked else ACK_STATUS_NACK

    @property
    def error_text(self) -> str:
        """One line for a settlement's ``error`` field."""
        return self.error if self.error is not None else self.ack.error_text


def action_url(base_url: str, action: str) -> str:
    """``https://sa.example.com`` + ``settle`` -> ``https://sa.example.com/settle``."""
    return f"{base_url.rstrip('/')}/{action}"


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class AgencyClient:
    """Signed POSTs of NTS10 messages over one ``httpx.AsyncClient``.

    Pass ``client`` to share a connection pool or a custom transport; it is instrumented so the
    current correlation id and ``traceparent`` go out with every request. ``record=False``
    skips the database records (for tools that only want to send).
    """

    def __init__(
        self,
        signer: SignerConfig,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        correlation_header: str = "x-correlation-id",
        record: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.signer = signer
        self.retry = retry or RetryPolicy()
        self.record = record
        self._owns_client = client is None
        self._client = instrument_httpx_client(
            client or httpx.AsyncClient(timeout=httpx.Timeout(timeout)), correlation_header
        )
        self._timeout = timeout
        self._sleep = sleep

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> AgencyClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def send(
        self, url: str, payload: dict[str, Any], *, user_id: str | None = None
    ) -> ExchangeResult:
        """POST ``payload`` to ``url`` (retrying what can be retried), then record the exchange.

        Never raises for network trouble: the result says what happened. Database errors while
        recording do propagate, because an unrecorded ACK must not pass silently.
        """
        transaction_id, action, message_id = message_key(payload)
        body = _encode(payload)
        started = time.perf_counter()
        status_code: int | None = None
        answer: Any = None
        error: str | None = None
        attempts = 0
        while True:
            attempts += 1
            headers = {
                "Authorization": sign_request(
                    body,
                    self.signer.subscriber_id,
                    self.signer.unique_key_id,
                    self.signer.private_key_b64,
                ),
                "Content-Type": "application/json",
            }
            try:
                response = await self._client.post(
                    url, content=body, headers=headers, timeout=self._timeout
                )
            except httpx.TimeoutException:
                status_code, answer, error = None, None, f"Timeout after {self._timeout:g}s"
            except httpx.TransportError as exc:
                status_code, answer, error = None, None, f"Connection error: {type(exc).__name__}"
            else:
                status_code, answer = response.status_code, _json_or_none(response)
                error = f"HTTP {status_code} from receiver" if status_code >= 500 else None
            if error is None or attempts >= self.retry.attempts:
                break
            delay = self.retry.delay(attempts)
            _log.warning(
                "%s to %s failed (%s); retry %d in %.2fs",
                action,
                url,
                error,
                attempts,
                delay,
                extra={"transaction_id": transaction_id, "message_id": message_id},
            )
            await self._sleep(delay)
        ack = parse_ack(answer) if error is None else AckResult(False, error_message=error)
        if error is None and status_code is not None and status_code >= 400 and ack.acked:
            ack = AckResult(False, error_message=f"HTTP {status_code}")
        result = ExchangeResult(
            action=action,
            url=url,
            transaction_id=transaction_id,
            message_id=message_id,
            status_code=status_code,
            ack=ack,
            body=answer,
            attempts=attempts,
            error=error,
        )
        if self.record:
            await self._record(payload, result, user_id, (time.perf_counter() - started) * 1000)
        return result

    async def _record(
        self,
        payload: dict[str, Any],
        result: ExchangeResult,
        user_id: str | None,
        duration_ms: float,
    ) -> None:
        await store_outgoing(
            payload, user_id=user_id, ack_status=result.ack_status, response=result.body
        )
        context = payload.get("context") or {}
        await RsfPayload(
            operation=result.url,
            method="POST",
            route=f"outbound:{result.action}",
            action=result.action,
            transaction_id=result.transaction_id,
            message_id=result.message_id,
            participant=context.get("bap_id"),
            correlation_id=get_correlation_id(),
            status_code=result.status_code or 0,
            ack_status=result.ack_status,
            duration_ms=round(duration_ms, 3),
            request=redact(payload, _AUDIT_SECRET_KEYS),
            response=redact(result.body, _AUDIT_SECRET_KEYS)
            if result.body is not None
            else ({"error": result.error} if result.error else None),
        ).insert()
