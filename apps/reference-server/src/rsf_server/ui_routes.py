"""The /ui API of the domain contract: participants, orders, settlements, recons, audit trail.

Every route needs the bearer token from ``/ui/auth/sign-token``; answers are
``{success, data, message}``; domain errors become JSON errors with their status.
"""

from __future__ import annotations

from typing import Any

from rsf_core import participants
from rsf_core.datetime_writes import save_document
from rsf_core.enums import OrderState, ReconStatus, SettlementStatus, SettleStatus, Strategy
from rsf_core.models import Order, Reconciliation, RsfPayload, Settlement
from rsf_core.settlement_prep import PrepareRequest, prepare_settlements
from rsf_observability.errors import ProblemError, read_json_body
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from rsf_server import params
from rsf_server.queries import as_json, page_of
from rsf_server.responses import ok, require_token


async def _body(request: Request) -> dict[str, Any]:
    limit: int = request.app.state.rsf.settings.max_body_bytes
    return params.body_object(await read_json_body(request, max_bytes=limit))


async def _user_id(request: Request) -> str:
    """The path's participant, which must exist (404 otherwise)."""
    user_id: str = request.path_params["user_id"]
    await participants.get_participant(user_id)
    return user_id


# --- participants ---------------------------------------------------------------------------


@require_token
async def list_users(request: Request) -> Response:
    found = await participants.list_participants()
    return ok([as_json(p) for p in found])


@require_token
async def create_user(request: Request) -> Response:
    created = await participants.create_participant(await _body(request))
    return ok(as_json(created), "Participant created", status=201)


@require_token
async def update_user(request: Request) -> Response:
    updated = await participants.update_participant(request.path_params["id"], await _body(request))
    return ok(as_json(updated), "Participant updated")


@require_token
async def delete_user(request: Request) -> Response:
    await participants.delete_participant(request.path_params["id"])
    return ok(None, "Participant deleted")


# --- orders ---------------------------------------------------------------------------------


@require_token
async def list_orders(request: Request) -> Response:
    user_id = await _user_id(request)
    query_params = request.query_params
    query: dict[str, Any] = {"user_id": user_id}
    if states := params.enum_values(query_params, "state", OrderState):
        query["state"] = {"$in": states}
    if settle := params.enum_values(query_params, "settle_status", SettleStatus):
        query["settle_status"] = {"$in": settle}
    if counterparty := params.text(query_params, "counterparty_id"):
        query["counterparty_id"] = counterparty
    if due := params.date_range(query_params, "due_date", "due_date"):
        query["due_date"] = due
    return ok(await page_of(Order, query, params.paging(query_params)))


@require_token
async def update_order_due_dates(request: Request) -> Response:
    """``PATCH /ui/orders/{user_id}`` with ``[{order_id, due_date}]``."""
    user_id = await _user_id(request)
    limit: int = request.app.state.rsf.settings.max_body_bytes
    body = await read_json_body(request, max_bytes=limit)
    if not isinstance(body, list) or not body:
        raise ProblemError(422, "Body must be a non-empty list of {order_id, due_date}")
    updated = []
    for index, item in enumerate(body):
        if not isinstance(item, dict):
            raise ProblemError(422, f"[{index}]: must be an object")
        order_id = params.string_field(item, "order_id", f"[{index}]")
        due = params.parse_datetime(item.get("due_date"), f"[{index}].due_date")
        order = await Order.find_one({"user_id": user_id, "order_id": order_id})
        if order is None:
            raise ProblemError(404, f"Order {order_id} not found", details={"order_id": order_id})
        order.due_date = due
        await save_document(order)
        updated.append(as_json(order))
    return ok(updated, f"{len(updated)} order(s) updated")


# --- settlements ----------------------------------------------------------------------------


@require_token
async def list_settlements(request: Request) -> Response:
    user_id = await _user_id(request)
    query_params = request.query_params
    query: dict[str, Any] = {"user_id": user_id}
    if statuses := params.enum_values(query_params, "status", SettlementStatus):
        query["status"] = {"$in": statuses}
    if order_id := params.text(query_params, "order_id"):
        query["order_id"] = order_id
    if counterparty := params.text(query_params, "counterparty_id"):
        query["$or"] = [{"collector_id": counterparty}, {"receiver_id": counterparty}]
    if due := params.date_range(query_params, "due_date", "due_date"):
        query["due_date"] = due
    return ok(await page_of(Settlement, query, params.paging(query_params)))


@require_token
async def prepare(request: Request) -> Response:
    """``{prepare_data: [{id: order_id, strategy: USER|RECON}]}``."""
    user_id = request.path_params["user_id"]
    items = params.object_list(await _body(request), "prepare_data")
    requests = []
    for index, item in enumerate(items):
        order_id = params.string_field(item, "id", f"prepare_data[{index}]")
        raw_strategy = item.get("strategy", Strategy.USER.value)
        if raw_strategy not in {s.value for s in Strategy}:
            raise ProblemError(
                422,
                f"prepare_data[{index}].strategy: must be one of {[s.value for s in Strategy]}",
            )
        requests.append(PrepareRequest(order_id, Strategy(raw_strategy)))
    prepared = await prepare_settlements(user_id, requests)
    return ok([as_json(s) for s in prepared], f"{len(prepared)} settlement(s) prepared")


# --- reconciliations and the audit trail ----------------------------------------------------


@require_token
async def list_recons(request: Request) -> Response:
    user_id = await _user_id(request)
    query_params = request.query_params
    query: dict[str, Any] = {"user_id": user_id}
    if statuses := params.enum_values(query_params, "recon_status", ReconStatus):
        query["recon_status"] = {"$in": statuses}
    if order_id := params.text(query_params, "order_id"):
        query["order_id"] = order_id
    return ok(await page_of(Reconciliation, query, params.paging(query_params)))


@require_token
async def list_rsf_payloads(request: Request) -> Response:
    query_params = request.query_params
    query: dict[str, Any] = {}
    for name in ("action", "transaction_id", "message_id"):
        if value := params.text(query_params, name):
            query[name] = value
    only_ack = params.text(query_params, "only_ack")
    if only_ack is not None:
        if only_ack not in ("true", "false"):
            raise ProblemError(422, "only_ack: must be true or false")
        if only_ack == "true":
            query["ack_status"] = "ACK"
    return ok(await page_of(RsfPayload, query, params.paging(query_params)))


def ui_routes() -> list[BaseRoute]:
    return [
        Route("/ui/users", list_users, methods=["GET"]),
        Route("/ui/users", create_user, methods=["POST"]),
        Route("/ui/users/{id}", update_user, methods=["PATCH"]),
        Route("/ui/users/{id}", delete_user, methods=["DELETE"]),
        Route("/ui/orders/{user_id}", list_orders, methods=["GET"]),
        Route("/ui/orders/{user_id}", update_order_due_dates, methods=["PATCH"]),
        Route("/ui/settle/{user_id}", list_settlements, methods=["GET"]),
        Route("/ui/settle/{user_id}/prepare", prepare, methods=["POST"]),
        Route("/ui/recon/{user_id}", list_recons, methods=["GET"]),
        Route("/ui/rsf-payloads", list_rsf_payloads, methods=["GET"]),
    ]
