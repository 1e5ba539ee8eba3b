"""``POST /api/{action}``: the network-facing endpoint other NPs and the agency call.

Transport problems are HTTP errors (415 not JSON, 413 too large); everything about the message
itself (signature, schema, rules) is answered by rsf-core as HTTP 200 with an ACK or NACK, as
ONDC expects.
"""

from __future__ import annotations

from rsf_core.processors import handle_network_request
from rsf_core.signing import PublicKeyLookup, StaticKeyLookup
from rsf_observability.errors import read_json_bytes
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from rsf_server.config import ServerSettings
from rsf_server.context import ServerContext


def key_lookup(settings: ServerSettings) -> PublicKeyLookup:
    """Senders' public keys from ``RSF_PUBLIC_KEYS`` (``subscriber_id[|unique_key_id]=key``).

    With ``REGISTRY_LOOKUP_URL`` the lifespan puts rsf-core's cached registry lookup in front of
    these; a sender whose key is found nowhere is NACKed 70001.
    """
    keys: dict[object, str] = {}
    for name, key in settings.public_keys.items():
        subscriber, _, key_id = name.partition("|")
        keys[(subscriber, key_id) if key_id else subscriber] = key
    return StaticKeyLookup(keys)  # type: ignore[arg-type]


async def network_action(request: Request) -> Response:
    rsf: ServerContext = request.app.state.rsf
    body = await read_json_bytes(request, max_bytes=rsf.settings.max_body_bytes)
    answer = await handle_network_request(
        request.path_params["action"],
        body,
        request.headers.get("authorization"),
        key_lookup=rsf.key_lookup,
        verify_signature=rsf.settings.verify_signatures,
        metrics=rsf.metrics,
    )
    return JSONResponse(answer)


def network_routes() -> list[BaseRoute]:
    return [Route("/api/{action}", network_action, methods=["POST"], name="network_action")]
