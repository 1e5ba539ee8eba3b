"""Every database command the app sends shows up in the db_* metrics, with bounded labels."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError, OperationFailure
from rsf_core.db import init_db
from rsf_core.enums import Role
from rsf_core.models import Participant
from rsf_observability.metrics import RsfMetrics


def _count(metrics: RsfMetrics, operation: str, collection: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "db_operations_total",
        {"operation": operation, "collection": collection, "outcome": outcome},
    )
    return value or 0.0


def _participant(title: str) -> Participant:
    return Participant(
        title=title, role=Role.BAP, subscriber_url="https://np.example.com", domain="ONDC:RET10"
    )


async def test_insert_find_and_duplicate_are_counted(
    beanie_db: AsyncMongoClient[Any], core_metrics: RsfMetrics
) -> None:
    before = _count(core_metrics, "insert", "users", "success")
    await _participant("one").insert()
    assert _count(core_metrics, "insert", "users", "success") == before + 1

    with pytest.raises(DuplicateKeyError):
        await _participant("one").insert()
    assert _count(core_metrics, "insert", "users", "failure") == 1

    await Participant.find_all().to_list()
    assert _count(core_metrics, "find", "users", "success") >= 1
    duration_count = core_metrics.registry.get_sample_value(
        "db_operation_duration_seconds_count", {"operation": "insert", "collection": "users"}
    )
    assert duration_count == before + 2


async def test_database_level_and_unknown_collections_are_bounded(
    beanie_db: AsyncMongoClient[Any], core_metrics: RsfMetrics, db_name: str
) -> None:
    await beanie_db[db_name].command("ping")
    assert _count(core_metrics, "ping", "-", "success") == 1
    await beanie_db[db_name]["some_user_supplied_name"].find_one({})
    assert _count(core_metrics, "find", "other", "success") == 1
    assert _count(core_metrics, "find", "some_user_supplied_name", "success") == 0


async def test_failed_command_counts_as_failure(
    beanie_db: AsyncMongoClient[Any], core_metrics: RsfMetrics, db_name: str
) -> None:
    with pytest.raises(OperationFailure):
        await beanie_db[db_name]["orders"].aggregate([{"$noSuchStage": 1}])
    assert _count(core_metrics, "aggregate", "orders", "failure") == 1


async def test_handshake_commands_are_not_counted(mongo_uri: str, db_name: str) -> None:
    metrics = RsfMetrics()
    client = await init_db(mongo_uri, db_name, metrics=metrics)
    try:
        await client[db_name].command("hello")
    finally:
        await client.close()
    families = {
        sample.labels.get("operation")
        for family in metrics.registry.collect()
        if family.name == "db_operations"
        for sample in family.samples
    }
    assert "hello" not in families
    assert "createIndexes" in families


async def test_without_metrics_no_listener_is_attached(mongo_uri: str, db_name: str) -> None:
    client = await init_db(mongo_uri, db_name)
    try:
        await _participant("solo").insert()
        assert await Participant.count() == 1
    finally:
        await client.close()
