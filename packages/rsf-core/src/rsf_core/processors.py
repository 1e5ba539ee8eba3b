"""The network-facing entry point: one ONDC request in, one ACK / NACK body out.

``handle_network_request`` is what ``POST /api/{action}`` calls with the raw body and the
Authorization header: signature (70001), JSON and schema (70002, with the first error's JSON
pointer), idempotency for NTS10 messages, then the action's processor. Business-rule failures
NACK 70030, "not processable now" 503, anything unexpected 70000 (logged, never echoed). A
repeat of a processed message is ACKed and not processed again; a message whose processing
failed is forgotten, so the sender's retry is processed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from rsf_observability.metrics import RsfMetrics

from rsf_core.acks import ack, nack, nack_from_error
from rsf_core.errors import NACK_INVALID_REQUEST, NACK_NOT_PROCESSABLE, DomainError
from rsf_core.ingestion import ingest_order
from rsf_core.recon_flow import process_on_recon, process_recon
from rsf_core.settle_flow import process_on_report, process_on_settle
from rsf_core.signing import AnyPublicKeyLookup, verify_authorization_async
from rsf_core.transactions import (
    IncomingClaim,
    claim_incoming,
    complete_incoming,
    release_incoming,
)
from rsf_core.validation import RETAIL_ACTIONS, SchemaError, validate_message

__all__ = ["INCOMING_NTS10_ACTIONS", "handle_incoming", "handle_network_request"]

_log = logging.getLogger("rsf.processors")

INCOMING_NTS10_ACTIONS: tuple[str, ...] = ("on_settle", "recon", "on_recon", "on_report")
"""The NTS10 actions an NP receives (settle and report go *to* the agency, never to an NP)."""

_Processor = Callable[[Mapping[str, Any], RsfMetrics | None], Awaitable[str | None]]


async def _on_settle(payload: Mapping[str, Any], metrics: RsfMetrics | None) -> str | None:
    return (await process_on_settle(payload, metrics=metrics)).user_id


async def _on_report(payload: Mapping[str, Any], metrics: RsfMetrics | None) -> str | None:
    return (await process_on_report(payload, metrics=metrics)).user_id


async def _recon(payload: Mapping[str, Any], metrics: RsfMetrics | None) -> str | None:
    user_id, _ = await process_recon(payload, metrics=metrics)
    return user_id


async def _on_recon(payload: Mapping[str, Any], metrics: RsfMetrics | None) -> str | None:
    return (await process_on_recon(payload, metrics=metrics)).user_id


_PROCESSORS: dict[str, _Processor] = {
    "on_settle": _on_settle,
    "on_report": _on_report,
    "recon": _recon,
    "on_recon": _on_recon,
}


async def handle_incoming(
    action: str, payload: Any, *, metrics: RsfMetrics | None = None
) -> dict[str, Any]:
    """Validate and process a parsed message (signature already checked); the ACK/NACK body."""
    try:
        validate_message(action, payload)
    except SchemaError as exc:
        return nack_from_error(exc)
    if action in RETAIL_ACTIONS:
        try:
            await ingest_order(payload)
        except DomainError as exc:
            return nack_from_error(exc)
        except Exception as exc:
            _log.exception("ingesting %s failed", action)
            return nack_from_error(exc)
        return ack()
    processor = _PROCESSORS.get(action)
    if processor is None:
        return nack(
            NACK_INVALID_REQUEST,
            f"{action} is not accepted by a network participant",
            "/context/action",
        )
    claim = await claim_incoming(payload)
    if claim is IncomingClaim.DUPLICATE:
        return ack()
    if claim is IncomingClaim.IN_PROGRESS:
        return nack(NACK_NOT_PROCESSABLE, "The same message is being processed; retry later")
    try:
        user_id = await processor(payload, metrics)
    except DomainError as exc:
        await release_incoming(payload)
        return nack_from_error(exc)
    except Exception as exc:
        await release_incoming(payload)
        _log.exception("processing %s failed", action)
        return nack_from_error(exc)
    answer = ack()
    try:
        await complete_incoming(payload, answer, user_id=user_id)
    except Exception:
        # Processed, so the answer is ACK; the unfinished claim goes stale and a retry is
        # processed again later rather than refused forever.
        _log.exception("marking %s processed failed", action)
    return answer


async def handle_network_request(
    action: str,
    body: bytes,
    authorization: str | None,
    *,
    key_lookup: AnyPublicKeyLookup | None,
    verify_signature: bool = True,
    metrics: RsfMetrics | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The whole network path for ``POST /api/{action}``: always an ACK or NACK body.

    Signature verification is on unless ``verify_signature=False`` is passed explicitly (local
    development only); with it on, ``key_lookup`` must be given (sync, or async such as
    :class:`~rsf_core.registry_lookup.RegistryKeyLookup`).
    """
    if verify_signature:
        if key_lookup is None:
            raise ValueError("signature verification needs a public key lookup")
        try:
            await verify_authorization_async(authorization, body, key_lookup, now=now)
        except DomainError as exc:
            return nack_from_error(exc)
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return nack(NACK_INVALID_REQUEST, "Request body is not valid JSON", "")
    return await handle_incoming(action, payload, metrics=metrics)
