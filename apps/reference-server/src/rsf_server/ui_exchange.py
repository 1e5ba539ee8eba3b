"""Building and sending ONDC messages from the /ui API: generate, trigger, move-to-ready.

``generate`` only builds a payload (nothing stored or sent); ``trigger`` signs and sends the
payload it is given through rsf-core's agency client, which records the exchange.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from rsf_core import payloads
from rsf_core.agency_client import AgencyClient
from rsf_core.models import ReconBreakdown
from rsf_core.payloads import MiscItem, OnReconAnswer, ReconRequest, SettlementAgency
from rsf_core.recon_flow import move_to_ready, trigger_on_recon, trigger_recon
from rsf_core.settle_flow import TriggerResult, trigger_report, trigger_settle
from rsf_observability.errors import ProblemError, read_json_body
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from rsf_server import params
from rsf_server.context import ServerContext
from rsf_server.queries import as_json
from rsf_server.responses import ok, require_token


def _rsf(request: Request) -> ServerContext:
    rsf: ServerContext = request.app.state.rsf
    return rsf


async def _body(request: Request) -> dict[str, Any]:
    limit = _rsf(request).settings.max_body_bytes
    return params.body_object(await read_json_body(request, max_bytes=limit))


def _not_configured(what: str, variables: str) -> ProblemError:
    return ProblemError(409, f"{what} is not configured ({variables})", code="not_configured")


def _identity(rsf: ServerContext) -> tuple[str, SettlementAgency]:
    settings = rsf.settings
    if not (settings.subscriber_id and settings.settlement_agency_id):
        raise _not_configured(
            "The settlement agency", "SUBSCRIBER_ID, SETTLEMENT_AGENCY_ID, SETTLEMENT_AGENCY_URL"
        )
    url = settings.settlement_agency_url or ""
    if not url:
        raise _not_configured("The settlement agency", "SETTLEMENT_AGENCY_URL")
    return settings.subscriber_id, SettlementAgency(settings.settlement_agency_id, url)


def _client(rsf: ServerContext) -> AgencyClient:
    client = rsf.agency_client
    if client is None:
        raise _not_configured(
            "Signing", "SUBSCRIBER_ID, UNIQUE_KEY_ID and SIGNING_PRIVATE_KEY are all needed"
        )
    return client


def _decimal(value: Any, field: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ProblemError(422, f"{field}: must be a number", details={"field": field}) from None


def _figures(item: dict[str, Any], where: str) -> ReconBreakdown | None:
    raw = item.get("figures")
    if raw is None:
        return None
    try:
        return ReconBreakdown.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ProblemError(
            422, f"{where}.figures.{field}: {first['msg']}", details={"field": field}
        ) from None


def _order_ids(body: dict[str, Any]) -> list[str]:
    if isinstance(body.get("order_ids"), list) and body["order_ids"]:
        return params.strings(body["order_ids"], "order_ids")
    orders = params.object_list(body, "orders")
    return [params.string_field(o, "order_id", f"orders[{i}]") for i, o in enumerate(orders)]


# --- generate -------------------------------------------------------------------------------


async def _generate_np_np(user_id: str, body: dict[str, Any], rsf: ServerContext) -> Any:
    subscriber, agency = _identity(rsf)
    return await payloads.generate_settle_np_np(
        user_id, _order_ids(body), subscriber_id=subscriber, agency=agency
    )


async def _generate_misc(user_id: str, body: dict[str, Any], rsf: ServerContext) -> Any:
    subscriber, agency = _identity(rsf)
    items = [
        MiscItem(
            provider_id=item.get("provider_id"),
            provider_amount=_decimal(item.get("provider_amount"), f"items[{i}].provider_amount"),
            self_amount=_decimal(item.get("self_amount"), f"items[{i}].self_amount"),
        )
        for i, item in enumerate(params.object_list(body, "items"))
    ]
    return await payloads.generate_settle_misc(
        user_id, items, subscriber_id=subscriber, agency=agency
    )


async def _generate_nil(user_id: str, body: dict[str, Any], rsf: ServerContext) -> Any:
    subscriber, agency = _identity(rsf)
    return await payloads.generate_settle_nil(user_id, subscriber_id=subscriber, agency=agency)


async def _generate_recon(user_id: str, body: dict[str, Any], rsf: ServerContext) -> Any:
    requests = []
    for i, item in enumerate(params.object_list(body, "orders")):
        where = f"orders[{i}]"
        due = item.get("due_date")
        requests.append(
            ReconRequest(
                order_id=params.string_field(item, "order_id", where),
                figures=_figures(item, where),
                payment_id=item.get("payment_id"),
                due_date=params.parse_datetime(due, f"{where}.due_date") if due else None,
            )
        )
    return await payloads.generate_recon(user_id, requests)


async def _generate_on_recon(user_id: str, body: dict[str, Any], rsf: ServerContext) -> Any:
    answers = []
    for i, item in enumerate(params.object_list(body, "orders")):
        where = f"orders[{i}]"
        accord = item.get("recon_accord")
        if not isinstance(accord, bool):
            raise ProblemError(422, f"{where}.recon_accord: must be true or false")
        due = item.get("due_date")
        answers.append(
            OnReconAnswer(
                order_id=params.string_field(item, "order_id", where),
                recon_accord=accord,
                due_date=params.parse_datetime(due, f"{where}.due_date") if due else None,
                figures=_figures(item, where),
            )
        )
    return await payloads.generate_on_recon(user_id, answers)


async def _generate_report(user_id: str, body: dict[str, Any], rsf: ServerContext) -> Any:
    subscriber, agency = _identity(rsf)
    return await payloads.generate_report(
        user_id,
        ref_transaction_id=params.string_field(body, "ref_transaction_id", "body"),
        ref_message_id=params.string_field(body, "ref_message_id", "body"),
        subscriber_id=subscriber,
        agency=agency,
    )


_Generator = Callable[[str, dict[str, Any], ServerContext], Awaitable[Any]]


def _generate_endpoint(build: _Generator, what: str) -> Callable[[Request], Awaitable[Response]]:
    @require_token
    async def endpoint(request: Request) -> Response:
        payload = await build(request.path_params["user_id"], await _body(request), _rsf(request))
        return ok(payload, f"{what} payload generated")

    return endpoint


# --- trigger --------------------------------------------------------------------------------


def _trigger_answer(result: TriggerResult) -> Response:
    exchange = result.exchange
    data = {
        "answer": result.answer(),
        "ack_status": exchange.ack_status,
        "status_code": exchange.status_code,
        "attempts": exchange.attempts,
        "transaction_id": exchange.transaction_id,
        "message_id": exchange.message_id,
        "order_ids": result.order_ids,
    }
    if exchange.acked:
        return ok(data, f"{exchange.action} sent and acknowledged")
    if exchange.error is not None:
        raise ProblemError(
            502, f"No answer from {exchange.url}: {exchange.error}", code="upstream", details=data
        )
    raise ProblemError(409, f"{exchange.action} was refused (NACK)", code="NACK", details=data)


@require_token
async def trigger(request: Request) -> Response:
    rsf = _rsf(request)
    user_id = request.path_params["user_id"]
    action = request.path_params["action"]
    if action not in ("settle", "report", "recon", "on_recon"):
        raise ProblemError(404, "Unknown trigger: use settle, recon, on_recon or report")
    payload = await _body(request)
    client = _client(rsf)
    if action == "settle":
        _, agency = _identity(rsf)
        result = await trigger_settle(
            user_id, payload, client=client, agency=agency, metrics=rsf.metrics
        )
    elif action == "report":
        _, agency = _identity(rsf)
        result = await trigger_report(user_id, payload, client=client, agency=agency)
    elif action == "recon":
        result = await trigger_recon(user_id, payload, client=client)
    else:
        result = await trigger_on_recon(user_id, payload, client=client, metrics=rsf.metrics)
    return _trigger_answer(result)


@require_token
async def recon_move_to_ready(request: Request) -> Response:
    """``{orders: [{order_id}]}``: accepted recons back to READY, prepared with RECON."""
    body = await _body(request)
    result = await move_to_ready(request.path_params["user_id"], _order_ids(body))
    data = {
        "order_ids": result.order_ids,
        "settlements": [as_json(s) for s in result.settlements],
    }
    return ok(data, f"{len(result.order_ids)} order(s) moved to ready")


def exchange_routes() -> list[BaseRoute]:
    generators: list[tuple[str, _Generator, str]] = [
        ("settle/np-np", _generate_np_np, "settle (NP-NP)"),
        ("settle/misc", _generate_misc, "settle (MISC)"),
        ("settle/nil", _generate_nil, "settle (NIL)"),
        ("recon", _generate_recon, "recon"),
        ("on_recon", _generate_on_recon, "on_recon"),
        ("report", _generate_report, "report"),
    ]
    routes: list[BaseRoute] = [
        Route(f"/ui/generate/{{user_id}}/{path}", _generate_endpoint(build, what), methods=["POST"])
        for path, build, what in generators
    ]
    routes += [
        Route("/ui/trigger/{user_id}/{action}", trigger, methods=["POST"]),
        Route("/ui/recon/{user_id}/move-to-ready", recon_move_to_ready, methods=["POST"]),
    ]
    return routes
