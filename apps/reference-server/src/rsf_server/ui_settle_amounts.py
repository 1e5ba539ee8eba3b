"""``PATCH /ui/settle/{user_id}``: correct the amounts of settlements not yet sent, JSON or CSV.

JSON body: ``{"settlements": [{"order_id": "...", "commission": "12.50", ...}]}`` (an object, like
``prepare_data``, so fields can be added later). CSV body (``text/csv``): a header row of
``order_id`` and any updatable field, one settlement per row. Both go through
``rsf_core.settlement_amounts``; any other content type is 415.
"""

from __future__ import annotations

from rsf_core import participants
from rsf_core.settlement_amounts import AmountUpdate, parse_amount_csv, update_settlement_amounts
from rsf_observability.errors import ProblemError, is_json_media_type, read_json_body
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from rsf_server import params
from rsf_server.queries import as_json
from rsf_server.responses import ok, require_token


def _is_csv(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "text/csv"


async def _csv_text(request: Request, max_bytes: int) -> str:
    """The body as text, stopping at ``max_bytes`` (413) like the JSON reader does."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ProblemError(413, f"Request body exceeds {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ProblemError(413, f"Request body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProblemError(400, "Request body is not valid UTF-8", code="malformed_csv") from exc


async def _json_updates(request: Request, max_bytes: int) -> list[AmountUpdate]:
    body = params.body_object(await read_json_body(request, max_bytes=max_bytes))
    items = params.object_list(body, "settlements")
    return [
        AmountUpdate.from_mapping(item, f"settlements[{index}]") for index, item in enumerate(items)
    ]


@require_token
async def update_settlement_amounts_route(request: Request) -> Response:
    user_id: str = request.path_params["user_id"]
    await participants.get_participant(user_id)
    limit: int = request.app.state.rsf.settings.max_body_bytes
    content_type = request.headers.get("content-type", "")
    if _is_csv(content_type):
        updates = parse_amount_csv(await _csv_text(request, limit))
    elif is_json_media_type(content_type):
        updates = await _json_updates(request, limit)
    else:
        raise ProblemError(415, "Content-Type must be application/json or text/csv")
    updated = await update_settlement_amounts(user_id, updates)
    return ok([as_json(s) for s in updated], f"{len(updated)} settlement(s) updated")


def settle_amount_routes() -> list[BaseRoute]:
    return [Route("/ui/settle/{user_id}", update_settlement_amounts_route, methods=["PATCH"])]
