"""Participant management: validation, uniqueness, whitelisted updates, delete and list."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from rsf_core.enums import Applicability, Role
from rsf_core.errors import Conflict, NotFound, ValidationFailed
from rsf_core.participants import (
    create_participant,
    delete_participant,
    get_participant,
    list_participants,
    update_participant,
)

pytestmark = pytest.mark.usefixtures("beanie_db")


def _data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "Buyer NP",
        "role": "BAP",
        "subscriber_url": "https://buyer.example.com/api/",
        "domain": "ONDC:RET10",
        "np_tcs": "1",
        "np_tds": 1,
        "tcs_applicability": "BOTH",
        "tds_applicability": "BOTH",
        "provider_details": [
            {
                "provider_name": "Store",
                "provider_id": "P1",
                "account_number": "000123",
                "ifsc_code": "HDFC0000001",
                "bank_name": "HDFC",
            }
        ],
        "counterparty_infos": [{"id": "seller.example.com", "nickname": "Seller"}],
    }
    data.update(overrides)
    return data


async def test_create_stores_normalised_participant() -> None:
    created = await create_participant(_data())
    stored = await get_participant(str(created.id))
    assert stored.role is Role.BAP
    assert stored.subscriber_url == "https://buyer.example.com/api"
    assert stored.np_tcs == Decimal(1)
    assert stored.tcs_applicability is Applicability.BOTH
    assert stored.provider_details[0].ifsc_code == "HDFC0000001"


async def test_create_rejects_bad_fields_with_every_error() -> None:
    with pytest.raises(ValidationFailed) as info:
        await create_participant(
            _data(role="ADMIN", np_tcs="101", subscriber_url="ftp://x", unknown_field=1)
        )
    fields = {err["field"] for err in info.value.details["errors"]}
    assert {"role", "np_tcs", "subscriber_url", "unknown_field"} <= fields
    assert info.value.code == "VALIDATION_FAILED"


async def test_create_rejects_missing_provider_detail_field() -> None:
    bad = _data(provider_details=[{"provider_name": "Store"}])
    with pytest.raises(ValidationFailed) as info:
        await create_participant(bad)
    assert "provider_details.0.provider_id" in {e["field"] for e in info.value.details["errors"]}


async def test_duplicate_title_and_identity_conflict() -> None:
    await create_participant(_data())
    with pytest.raises(Conflict) as info:
        await create_participant(_data(subscriber_url="https://other.example.com"))
    assert info.value.code == "DUPLICATE_TITLE"
    with pytest.raises(Conflict) as info:
        # trailing slash or not, it is the same subscriber
        await create_participant(
            _data(title="Again", subscriber_url="https://buyer.example.com/api")
        )
    assert info.value.code == "DUPLICATE_PARTICIPANT"
    await create_participant(_data(title="Seller side", role="BPP"))
    assert len(await list_participants()) == 2
    assert [p.title for p in await list_participants(role=Role.BPP)] == ["Seller side"]


async def test_update_changes_only_whitelisted_fields() -> None:
    created = await create_participant(_data())
    updated = await update_participant(
        str(created.id), {"np_tcs": "0.5", "msn": True, "title": "Renamed"}
    )
    assert updated.np_tcs == Decimal("0.5")
    stored = await get_participant(str(created.id))
    assert (stored.title, stored.msn, stored.np_tcs) == ("Renamed", True, Decimal("0.5"))
    assert stored.updated_at >= created.updated_at

    with pytest.raises(ValidationFailed) as info:
        await update_participant(str(created.id), {"subscriber_url": "https://evil.example.com"})
    assert info.value.code == "FIELD_NOT_UPDATABLE"
    assert (
        await get_participant(str(created.id))
    ).subscriber_url == "https://buyer.example.com/api"

    with pytest.raises(ValidationFailed):
        await update_participant(str(created.id), {"np_tds": "-1"})


async def test_update_title_to_an_existing_one_conflicts() -> None:
    await create_participant(_data())
    other = await create_participant(_data(title="Other", subscriber_url="https://o.example.com"))
    with pytest.raises(Conflict):
        await update_participant(str(other.id), {"title": "Buyer NP"})
    # Renaming to its own title is not a conflict.
    await update_participant(str(other.id), {"title": "Other"})


async def test_delete_and_not_found() -> None:
    created = await create_participant(_data())
    await delete_participant(str(created.id))
    with pytest.raises(NotFound):
        await get_participant(str(created.id))
    with pytest.raises(NotFound):
        await delete_participant(str(created.id))
    with pytest.raises(NotFound):
        await update_participant("not-an-object-id", {"msn": True})
    assert await list_participants() == []


async def test_fixture_gives_a_fresh_database(beanie_db: AsyncMongoClient[Any]) -> None:
    assert await list_participants() == []
