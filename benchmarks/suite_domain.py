"""Comparison 5: preparing settlements for many orders, then aggregating the business metrics,
on the embedded store (nx-27017 over a real pymongo connection).
"""

from __future__ import annotations

import asyncio
import re
import resource
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

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
        start = time.perf_counter()
        for first in range(0, orders, _CHUNK):
            await Order.insert_many(
                [_order(i, user_id) for i in range(first, min(first + _CHUNK, orders))]
            )
        insert_s = time.perf_counter() - start

        start = time.perf_counter()
        for first in range(0, orders, _CHUNK):
            await prepare_settlements(
                user_id,
                [PrepareRequest(f"O-{i:07d}") for i in range(first, min(first + _CHUNK, orders))],
            )
        prepare_s = time.perf_counter() - start

        # A realistic hour: most settled, some not, so the success rate has something to say.
        collection = Settlement.get_pymongo_collection()
        now = time.time()
        from datetime import UTC, datetime

        settled_at = datetime.fromtimestamp(now - 60, UTC)
        await collection.update_many(
            {"order_id": {"$regex": "[0-8]$"}},
            {"$set": {"status": SettlementStatus.SETTLED.value, "settled_date": settled_at}},
        )
        await collection.update_many(
            {"order_id": {"$regex": "9$"}},
            {"$set": {"status": SettlementStatus.NOT_SETTLED.value, "settled_date": settled_at}},
        )
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
            "aggregate_s": aggregate_s,
            "success_rate_percent": metrics.registry.get_sample_value(
                "settlement_success_rate_percent"
            ),
            "snapshot": repr(snapshot),
        }
    finally:
        await client.close()


def run(orders: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStore(data_dir=Path(tmp) / "nx") as store:
        result = asyncio.run(_run(store.uri, orders))
        result["bench_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["store_peak_rss_mib"] = _vm_hwm_mib(store.pid)
    return result
