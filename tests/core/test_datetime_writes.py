"""Dates written by the settle flow stay BSON dates on nx-27017, so time windows find them.

nx-27017 turns a datetime written through ``$set`` into a string; these tests read the raw
documents with pymongo after the real flow steps and run the queries that depend on the dates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pymongo import AsyncMongoClient
from rsf_core.business_metrics import BusinessMetricsCollector
from rsf_core.datetime_writes import (
    save_document,
    set_document_fields,
    set_fields,
    set_fields_many,
)
from rsf_core.enums import SettlementStatus
from rsf_core.models import Order, RsfTransaction, Settlement, utcnow
from rsf_core.payloads import generate_settle_np_np
from rsf_core.settle_flow import trigger_settle
from rsf_core.settlement_prep import PrepareRequest, prepare_settlements
from rsf_core.stuck import TIMEOUT_RESET_ERROR, reset_stuck_settlements

from tests.core._ondc_network import (
    ACK,
    OUR_ID,
    SA_ID,
    Network,
    network_fixture,  # noqa: F401 (the "network" fixture)
    on_settle_for,
    stubs_fixture,  # noqa: F401 (the "stubs" fixture)
)

ORDER_A = "DATES-1001"
ORDER_B = "DATES-1002"


async def _settle(network: Network, order_ids: list[str]) -> dict[str, Any]:
    """Orders confirmed, prepared and sent to the agency, which ACKs: they are PENDING."""
    for order_id in order_ids:
        assert await network.deliver("on_confirm", network.on_confirm(order_id)) == ACK
    await prepare_settlements(network.user_id, [PrepareRequest(o) for o in order_ids])
    settle = await generate_settle_np_np(
        network.user_id, order_ids, subscriber_id=OUR_ID, agency=network.agency
    )
    result = await trigger_settle(
        network.user_id, settle, client=network.client, agency=network.agency
    )
    assert result.acked
    assert sorted(result.order_ids) == sorted(order_ids)
    return settle


async def _raw(network: Network, order_id: str) -> dict[str, Any]:
    found = await Settlement.get_pymongo_collection().find_one(
        {"user_id": network.user_id, "order_id": order_id}
    )
    assert found is not None
    return dict(found)


async def test_settle_ack_and_on_settle_store_dates_that_time_windows_find(
    network: Network,
) -> None:
    before = utcnow() - timedelta(seconds=1)
    settle = await _settle(network, [ORDER_A])
    pending = await _raw(network, ORDER_A)
    assert pending["status"] == "PENDING"
    assert isinstance(pending["initiated_date"], datetime)
    assert isinstance(pending["updated_at"], datetime)
    assert isinstance(pending["created_at"], datetime)
    assert pending["transaction_ids"] == [settle["context"]["transaction_id"]]
    settlements = Settlement.get_pymongo_collection()
    assert await settlements.count_documents({"initiated_date": {"$gte": before}}) == 1

    answer = on_settle_for(settle, {ORDER_A: "SETTLED"})
    assert await network.deliver("on_settle", answer, sender=SA_ID) == ACK
    settled = await _raw(network, ORDER_A)
    assert settled["status"] == "SETTLED"
    assert isinstance(settled["settled_date"], datetime)
    assert await settlements.count_documents({"settled_date": {"$gte": before}}) == 1
    stored = await RsfTransaction.get_pymongo_collection().find_one(
        {
            "context.action": "on_settle",
            "context.transaction_id": answer["context"]["transaction_id"],
        }
    )
    assert stored is not None
    assert isinstance(stored["updated_at"], datetime)


async def test_stuck_reset_finds_a_settlement_made_pending_by_the_settle_flow(
    network: Network,
) -> None:
    await _settle(network, [ORDER_A])
    assert await reset_stuck_settlements(now=utcnow() + timedelta(minutes=29)) == 0
    assert await reset_stuck_settlements(now=utcnow() + timedelta(minutes=31)) == 1
    reset = await _raw(network, ORDER_A)
    assert (reset["status"], reset["error"]) == ("NOT_SETTLED", TIMEOUT_RESET_ERROR)
    assert (reset["provider_status"], reset["self_status"]) == ("NOT_SETTLED", "NOT_SETTLED")
    assert isinstance(reset["settled_date"], datetime)
    assert isinstance(reset["initiated_date"], datetime)


async def test_success_rate_is_a_number_after_a_real_on_settle(network: Network) -> None:
    settle = await _settle(network, [ORDER_A, ORDER_B])
    answer = on_settle_for(settle, {ORDER_A: "SETTLED", ORDER_B: "NOT_SETTLED"})
    assert await network.deliver("on_settle", answer, sender=SA_ID) == ACK
    snapshot = await BusinessMetricsCollector(network.metrics).refresh()
    assert (snapshot.settled, snapshot.not_settled) == (1, 1)
    assert snapshot.success_rate_percent == 50.0
    gauge = network.metrics.registry.get_sample_value("settlement_success_rate_percent")
    assert gauge == 50.0


async def test_a_write_whose_filter_stopped_matching_changes_nothing(network: Network) -> None:
    await _settle(network, [ORDER_A])
    settlements = Settlement.get_pymongo_collection()
    guard = {"user_id": network.user_id, "order_id": ORDER_A, "status": "PREPARED"}
    assert await set_fields(settlements, guard, {"settled_date": utcnow()}) == 0
    assert await set_fields_many(settlements, guard, {"settled_date": utcnow()}) == 0
    assert (await _raw(network, ORDER_A))["settled_date"] is None


async def test_many_with_an_id_filter_writes_each_matching_document(network: Network) -> None:
    await _settle(network, [ORDER_A, ORDER_B])
    settlements = Settlement.get_pymongo_collection()
    first = await _raw(network, ORDER_A)
    when = utcnow()
    changed = await set_fields_many(
        settlements, {"_id": {"$in": [first["_id"]]}}, {"settled_date": when, "error": "x"}
    )
    assert changed == 1
    assert (await _raw(network, ORDER_A))["settled_date"] == when
    assert (await _raw(network, ORDER_B))["settled_date"] is None


async def test_document_fields_are_encoded_and_kept_in_memory(network: Network) -> None:
    await _settle(network, [ORDER_A])
    settlement = await Settlement.find_one({"user_id": network.user_id, "order_id": ORDER_A})
    assert settlement is not None
    when = utcnow()
    fields = {
        "status": SettlementStatus.SETTLED,
        "settled_date": when,
        "inter_np_settlement": Decimal("1.50"),
    }
    await set_document_fields(settlement, fields)
    assert (settlement.status, settlement.settled_date) == (SettlementStatus.SETTLED, when)
    raw = await _raw(network, ORDER_A)
    assert (raw["status"], raw["inter_np_settlement"]) == ("SETTLED", "1.50")
    assert isinstance(raw["settled_date"], datetime)


async def test_saving_an_edited_order_keeps_every_date(network: Network) -> None:
    """The UI's due-date edit, written as one replace of the loaded order."""
    assert await network.deliver("on_confirm", network.on_confirm(ORDER_A)) == ACK
    order = await Order.find_one({"user_id": network.user_id, "order_id": ORDER_A})
    assert order is not None
    due = utcnow() + timedelta(days=3)
    order.due_date = due
    await save_document(order)
    raw = await Order.get_pymongo_collection().find_one({"_id": order.id})
    assert raw is not None
    assert raw["due_date"] == due
    assert isinstance(raw["created_at"], datetime)
    assert isinstance(raw["updated_at"], datetime)
    assert await Order.get_pymongo_collection().count_documents({"due_date": {"$gte": due}}) == 1


async def test_concurrent_writers_keep_every_field(mongo_uri: str, db_name: str) -> None:
    """Eight writers read-merge-replace one document at once, over real connections: each
    write's ``updated_at`` guard makes a writer that read a stale copy read again, so no
    writer's field is lost (a plain read-merge-replace would keep only the last copy). Each
    writer loses at most once to each of the seven others, within the eight attempts."""
    clients: list[AsyncMongoClient[Mapping[str, Any]]] = [
        AsyncMongoClient(mongo_uri) for _ in range(2)
    ]
    try:
        collections = [c[db_name]["concurrent_writes"] for c in clients]
        base = datetime(2026, 12, 3, 12, 0, 0)
        await collections[0].insert_one({"_id": "doc", "updated_at": base})

        async def writer(i: int) -> int:
            fields = {
                f"field_{i}": base + timedelta(hours=i),
                "updated_at": base + timedelta(seconds=i + 1),
            }
            return await set_fields(collections[i % 2], {"_id": "doc"}, fields)

        results = await asyncio.gather(*(writer(i) for i in range(8)))
        stored = await collections[0].find_one({"_id": "doc"})
    finally:
        for client in clients:
            await client.close()
    assert results == [1] * 8
    assert stored is not None
    for i in range(8):
        assert stored[f"field_{i}"] == base + timedelta(hours=i)
        assert isinstance(stored[f"field_{i}"], datetime)
