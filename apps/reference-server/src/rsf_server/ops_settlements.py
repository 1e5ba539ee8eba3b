"""Runbook database commands of ``rsf-ops``: stuck settlements and performance indexes."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, MongoClient
from rsf_core.db import init_db
from rsf_core.stuck import count_stuck_settlements as _count_stuck
from rsf_core.stuck import reset_stuck_settlements

# The guide's "add missing indexes" runbook, on this domain's collections and field names
# (settlements live in `settles`, reconciliations in `recons`, timestamps are `created_at`).
RUNBOOK_INDEXES: tuple[tuple[str, list[tuple[str, int]]], ...] = (
    ("orders", [("user_id", ASCENDING), ("order_id", ASCENDING), ("state", ASCENDING)]),
    ("orders", [("user_id", ASCENDING), ("created_at", DESCENDING), ("state", ASCENDING)]),
    ("settles", [("user_id", ASCENDING), ("status", ASCENDING), ("created_at", DESCENDING)]),
    ("recons", [("user_id", ASCENDING), ("created_at", DESCENDING)]),
)


async def reset_stuck(uri: str, db_name: str, minutes: float) -> int:
    """The runbook's reset: PENDING longer than ``minutes`` -> NOT_SETTLED "Timeout reset"."""
    client = await init_db(uri, db_name, serverSelectionTimeoutMS=5000, appname="rsf-ops")
    try:
        return int(await reset_stuck_settlements(older_than_minutes=minutes))
    finally:
        await client.close()


async def count_stuck_settlements(uri: str, db_name: str, minutes: float) -> int:
    client = await init_db(uri, db_name, serverSelectionTimeoutMS=5000, appname="rsf-ops")
    try:
        return await _count_stuck(older_than_minutes=minutes)
    finally:
        await client.close()


def create_indexes(uri: str, db_name: str) -> list[tuple[str, str]]:
    """Create (idempotently) the runbook's indexes; returns ``(collection, index name)``."""
    client: MongoClient[dict[str, Any]] = MongoClient(
        uri, serverSelectionTimeoutMS=5000, appname="rsf-ops"
    )
    try:
        db = client[db_name]
        return [(coll, db[coll].create_index(keys)) for coll, keys in RUNBOOK_INDEXES]
    finally:
        client.close()
