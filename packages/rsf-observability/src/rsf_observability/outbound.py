"""Carry the request's correlation id and W3C trace context into outgoing httpx calls.

An event hook rather than a transport, so it composes with whatever transport the client
already uses (retries, proxies, test transports). Headers the caller set explicitly win.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import httpx
from opentelemetry import propagate

from rsf_observability.context import get_correlation_id
from rsf_observability.correlation import DEFAULT_HEADER


def outbound_headers(header_name: str = DEFAULT_HEADER) -> dict[str, str]:
    """Headers linking an outgoing call to the current request: the id, ``traceparent``, ..."""
    headers: dict[str, str] = {}
    cid = get_correlation_id()
    if cid:
        headers[header_name] = cid
    propagate.inject(headers)
    return headers


def _apply(request: httpx.Request, header_name: str) -> None:
    for key, value in outbound_headers(header_name).items():
        if key not in request.headers:
            request.headers[key] = value


@dataclass(frozen=True)
class AsyncPropagationHook:
    """``httpx.AsyncClient(event_hooks={"request": [AsyncPropagationHook()]})``."""

    header_name: str = DEFAULT_HEADER

    async def __call__(self, request: httpx.Request) -> None:
        _apply(request, self.header_name)


@dataclass(frozen=True)
class SyncPropagationHook:
    """``httpx.Client(event_hooks={"request": [SyncPropagationHook()]})``."""

    header_name: str = DEFAULT_HEADER

    def __call__(self, request: httpx.Request) -> None:
        _apply(request, self.header_name)


propagation_event_hook = AsyncPropagationHook()
sync_propagation_event_hook = SyncPropagationHook()

_Client = TypeVar("_Client", httpx.Client, httpx.AsyncClient)


def instrument_httpx_client(client: _Client, header_name: str = DEFAULT_HEADER) -> _Client:
    """Add the matching hook to ``client`` (once; calling again changes nothing) and return it."""
    hooks = client.event_hooks
    request_hooks = hooks.setdefault("request", [])
    if any(isinstance(h, AsyncPropagationHook | SyncPropagationHook) for h in request_hooks):
        return client
    hook = (
        AsyncPropagationHook(header_name)
        if isinstance(client, httpx.AsyncClient)
        else SyncPropagationHook(header_name)
    )
    request_hooks.append(hook)
    client.event_hooks = hooks
    return client
