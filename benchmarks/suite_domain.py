"""Comparison 5: preparing settlements for many orders, then aggregating the business metrics,
on the embedded store (nx-27017 over a real pymongo connection).
"""

from __future__ import annotations

import asyncio
import re
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from beanie.odm.utils.dump import get_dict
from pymongo import ReplaceOne
from rsf_core import (
    BusinessMetricsCollector,
    Order,
    PrepareRequest,
    Settlement,
    create_participant,
    init_db,
    prepare_settlements,
)
from rsf_core.enums import CollectedBy, OrderState, SettlementStatus
from rsf_core.models import BreakupLine, Quote
from rsf_observability import RsfMetrics
from rsf_server.embedded_store import EmbeddedStore

_CHUNK = 500


def _order(i: int, user_id: str) -> Order:
    return Order(
        order_id=f"O-{i:07d}",
        user_id=user_id,
        bap_id="buyer.example.com",
        bap_uri="https://buyer.example.com/api",
        bpp_id="seller.example.com",
        bpp_uri="https://seller.example.com/api",
        domain="ONDC:RET10",
        state=OrderState.COMPLETED,
        collected_by=CollectedBy.BAP,
        buyer_finder_fee_type="percent",
        buyer_finder_fee_amount=Decimal("33.63"),
        item_tax=Decimal("50.00"),
        quote=Quote(
            total_order_value=Decimal("1000.00"),
            breakup=[
                BreakupLine(title="item", price=Decimal("850.00"), id="I1"),
                BreakupLine(title="tax", price=Decimal("50.00"), id="I1"),
                BreakupLine(title="delivery", price=Decimal("100.00"), id="D1"),
            ],
        ),
    )


async def _finalise(user_id: str, orders: int) -> int:
    """Give every tenth settlement a final status (9 SETTLED : 1 NOT_SETTLED) a minute ago.

    Whole documents are replaced (``bulk_write`` of ``ReplaceOne``): nx-27017 stores a datetime
    written by ``$set`` or ``$currentDate`` in a form its ``count_documents`` (an aggregate
    ``$match``) never matches, so the success rate came out NaN; inserted or replaced documents
    keep a real date, as any MongoDB does for all three.
    """
    collection = Settlement.get_pymongo_collection()
    settled_at = datetime.now(UTC) - timedelta(minutes=1)
    ids = [f"O-{i:07d}" for i in range(0, orders, 10)]
    done = 0
    for first in range(0, len(ids), _CHUNK):
        chunk = ids[first : first + _CHUNK]
        docs = await collection.find({"user_id": user_id, "order_id": {"$in": chunk}}).to_list()
        ops = []
        for n, doc in enumerate(docs):
            status = SettlementStatus.NOT_SETTLED if n % 10 == 9 else SettlementStatus.SETTLED
            ops.append(
                ReplaceOne(
                    {"_id": doc["_id"]},
                    {**doc, "status": status.value, "settled_date": settled_at},
                )
            )
        if ops:
            done += (await collection.bulk_write(ops)).matched_count
    return done


def _vm_hwm_mib(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


async def _run(uri: str, orders: int) -> dict[str, Any]:
    client = await init_db(uri, "rsf_bench")
    try:
        participant = await create_participant(
            {
                "title": "Bench NP",
                "role": "BAP",
                "subscriber_url": "https://buyer.example.com/api",
                "domain": "ONDC:RET10",
                "np_tcs": "1",
                "np_tds": "1",
                "tcs_applicability": "BOTH",
                "tds_applicability": "BOTH",
            }
        )
        user_id = str(participant.id)
        # Seeding: one order encoded by Beanie, copied with a new order_id (encoding 100,000
        # models one by one would cost the bench more than the store spends storing them).
        template = get_dict(_order(0, user_id), to_db=True)
        collection = Order.get_pymongo_collection()
        start = time.perf_counter()
        for first in range(0, orders, _CHUNK):
            await collection.insert_many(
                [
                    {**template, "order_id": f"O-{i:07d}"}
                    for i in range(first, min(first + _CHUNK, orders))
                ]
            )
        insert_s = time.perf_counter() - start

        start = time.perf_counter()
        for first in range(0, orders, _CHUNK):
            await prepare_settlements(
                user_id,
                [PrepareRequest(f"O-{i:07d}") for i in range(first, min(first + _CHUNK, orders))],
            )
        prepare_s = time.perf_counter() - start

        # A realistic hour: a tenth of them reached a final status, most SETTLED, some not,
        # so the success rate has something to say.
        start = time.perf_counter()
        finalised = await _finalise(user_id, orders)
        finalise_s = time.perf_counter() - start
        metrics = RsfMetrics()
        collector = BusinessMetricsCollector(metrics)
        start = time.perf_counter()
        snapshot = await collector.refresh()
        aggregate_s = time.perf_counter() - start
        return {
            "orders": orders,
            "insert_s": insert_s,
            "prepare_s": prepare_s,
            "prepare_orders_per_s": orders / prepare_s if prepare_s else None,
            "insert_orders_per_s": orders / insert_s if insert_s else None,
            "finalised": finalised,
            "finalise_s": finalise_s,
            "aggregate_s": aggregate_s,
            "success_rate_percent": metrics.registry.get_sample_value(
                "settlement_success_rate_percent"
            ),
            "settled": snapshot.settled,
            "not_settled": snapshot.not_settled,
        }
    finally:
        await client.close()


def run(orders: int) -> dict[str, Any]:
    """Prepare ``orders`` settlements on a fresh store; orders/s, durations and peak RSS.

    The bench process's peak RSS is its lifetime high-water mark: run this suite in its own
    process (``python -m benchmarks --only domain``) for a figure of the domain work alone.
    """
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStore(data_dir=Path(tmp) / "nx") as store:
        result = asyncio.run(_run(store.uri, orders))
        result["bench_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["store_peak_rss_mib"] = _vm_hwm_mib(store.pid)
    return result


def main() -> None:
    import json
    import sys

    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)))


if __name__ == "__main__":
    main()
