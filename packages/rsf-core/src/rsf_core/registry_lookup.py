"""Senders' public keys from an ONDC registry's ``/lookup``, with a cache and a static fallback.

The registry answers ``POST {lookup_url}`` with ``{"subscriber_id", "ukId"}`` by a list of
subscriber records carrying ``signing_public_key``. Keys are cached for ``ttl`` seconds, so a
burst of messages from one NP costs one registry call; a registry that is down or answers
nonsense yields "no key" (the message is NACKed 70001), never an exception.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
from rsf_observability.outbound import instrument_httpx_client

from rsf_core.signing import PublicKeyLookup

__all__ = ["RegistryKeyLookup"]

_log = logging.getLogger("rsf.registry_lookup")


def _records(answer: Any) -> list[dict[str, Any]]:
    if isinstance(answer, dict):
        answer = answer.get("message", answer.get("subscribers", [answer]))
    if not isinstance(answer, list):
        return []
    return [record for record in answer if isinstance(record, dict)]


class RegistryKeyLookup:
    """An async public-key lookup for :func:`~rsf_core.processors.handle_network_request`."""

    def __init__(
        self,
        lookup_url: str,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        ttl: float = 300.0,
        fallback: PublicKeyLookup | None = None,
    ) -> None:
        self.lookup_url = lookup_url
        self.ttl = ttl
        self.fallback = fallback
        self._owns_client = client is None
        self._client = instrument_httpx_client(client or httpx.AsyncClient(timeout=timeout))
        self._cache: dict[tuple[str, str], tuple[float, str]] = {}

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __call__(self, subscriber_id: str, unique_key_id: str) -> str | None:
        if self.fallback is not None:
            configured = self.fallback(subscriber_id, unique_key_id)
            if configured:
                return configured
        key = (subscriber_id, unique_key_id)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        public_key = await self._fetch(subscriber_id, unique_key_id)
        if public_key:
            self._cache[key] = (time.monotonic() + self.ttl, public_key)
        return public_key

    async def _fetch(self, subscriber_id: str, unique_key_id: str) -> str | None:
        try:
            response = await self._client.post(
                self.lookup_url, json={"subscriber_id": subscriber_id, "ukId": unique_key_id}
            )
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            _log.warning("registry lookup for %s failed: %s", subscriber_id, type(exc).__name__)
            return None
        for record in _records(answer):
            if record.get("subscriber_id", subscriber_id) != subscriber_id:
                continue
            if str(record.get("ukId", record.get("unique_key_id", unique_key_id))) != unique_key_id:
                continue
            public_key = record.get("signing_public_key")
            if isinstance(public_key, str) and public_key:
                return public_key
        return None
