"""Participants (the original tool's "users"): create, update, delete, list.

The identity ``(role, subscriber_url, domain)`` is what incoming orders are matched on, so it
is fixed at creation; ``update_participant`` accepts only :data:`UPDATABLE_FIELDS`.
Subscriber URLs are stored without a trailing slash and matched the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

from beanie import PydanticObjectId
from bson.errors import InvalidId
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pymongo.errors import DuplicateKeyError

from rsf_core._validation import parse
from rsf_core.enums import Applicability, Role
from rsf_core.errors import Conflict, NotFound, ValidationFailed
from rsf_core.models import CounterpartyInfo, Participant, ProviderDetail, utcnow

UPDATABLE_FIELDS: frozenset[str] = frozenset(
    {
        "title",
        "np_tcs",
        "np_tds",
        "pr_tcs",
        "pr_tds",
        "tcs_applicability",
        "tds_applicability",
        "msn",
        "provider_details",
        "counterparty_infos",
    }
)


def normalise_url(url: str) -> str:
    return url.strip().rstrip("/")


def _http_url(value: str) -> str:
    value = normalise_url(value)
    if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
        raise ValueError("must be an http(s) URL")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Url = Annotated[str, StringConstraints(max_length=500), AfterValidator(_http_url)]
Rate = Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)]


class _ParticipantFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    np_tcs: Rate = Decimal(0)
    np_tds: Rate = Decimal(0)
    pr_tcs: Rate | None = None
    pr_tds: Rate | None = None
    tcs_applicability: Applicability = Applicability.NONE
    tds_applicability: Applicability = Applicability.NONE
    msn: bool = False
    provider_details: list[ProviderDetail] = Field(default_factory=list)
    counterparty_infos: list[CounterpartyInfo] = Field(default_factory=list)


class ParticipantCreate(_ParticipantFields):
    title: Text
    role: Role
    subscriber_url: Url
    domain: Text


class ParticipantUpdate(_ParticipantFields):
    title: Text | None = None


async def _ensure_unique(
    title: str | None,
    identity: tuple[Role, str, str] | None,
    exclude: PydanticObjectId | None = None,
) -> None:
    not_me: dict[str, Any] = {"_id": {"$ne": exclude}} if exclude is not None else {}
    if title is not None and await Participant.find_one({"title": title, **not_me}):
        raise Conflict(
            f"A participant titled {title!r} already exists",
            code="DUPLICATE_TITLE",
            details={"title": title},
        )
    if identity is not None:
        role, url, domain = identity
        query = {"role": role.value, "subscriber_url": url, "domain": domain, **not_me}
        if await Participant.find_one(query):
            raise Conflict(
                f"A {role.value} participant for {url} in {domain} already exists",
                code="DUPLICATE_PARTICIPANT",
                details={"role": role.value, "subscriber_url": url, "domain": domain},
            )


def _duplicate_conflict(exc: DuplicateKeyError) -> Conflict:
    """A race lost to a concurrent create: the unique index had the last word."""
    return Conflict("A participant with that title or identity already exists", code="DUPLICATE")


async def get_participant(participant_id: str) -> Participant:
    try:
        oid = PydanticObjectId(participant_id)
    except (InvalidId, TypeError):
        raise NotFound(f"No participant {participant_id!r}", code="PARTICIPANT_NOT_FOUND") from None
    participant = await Participant.get(oid)
    if participant is None:
        raise NotFound(f"No participant {participant_id!r}", code="PARTICIPANT_NOT_FOUND")
    return participant


async def create_participant(data: Mapping[str, Any]) -> Participant:
    """Validate and store a new participant; ``Conflict`` on a duplicate title or identity."""
    spec = parse(ParticipantCreate, data, "participant")
    await _ensure_unique(spec.title, (spec.role, spec.subscriber_url, spec.domain))
    participant = Participant(**spec.model_dump())
    try:
        await participant.insert()
    except DuplicateKeyError as exc:
        raise _duplicate_conflict(exc) from None
    return participant


async def update_participant(participant_id: str, changes: Mapping[str, Any]) -> Participant:
    """Apply ``changes`` (only :data:`UPDATABLE_FIELDS`) and return the stored participant."""
    refused = sorted(set(changes) - UPDATABLE_FIELDS)
    if refused:
        raise ValidationFailed(
            f"Field(s) cannot be updated: {', '.join(refused)}",
            code="FIELD_NOT_UPDATABLE",
            details={"fields": refused, "updatable": sorted(UPDATABLE_FIELDS)},
        )
    spec = parse(ParticipantUpdate, changes, "participant update")
    participant = await get_participant(participant_id)
    updates = {name: getattr(spec, name) for name in changes}
    if "title" in updates:
        if updates["title"] is None:
            raise ValidationFailed("Invalid participant update: title: must not be null")
        if updates["title"] != participant.title:
            await _ensure_unique(updates["title"], None, exclude=participant.id)
    for name, value in updates.items():
        setattr(participant, name, value)
    participant.updated_at = utcnow()
    try:
        await participant.replace()
    except DuplicateKeyError as exc:
        raise _duplicate_conflict(exc) from None
    return participant


async def delete_participant(participant_id: str) -> None:
    participant = await get_participant(participant_id)
    await participant.delete()


async def list_participants(*, role: Role | None = None) -> list[Participant]:
    """All participants (optionally of one role), oldest first."""
    query: dict[str, Any] = {"role": role.value} if role is not None else {}
    return await Participant.find(query).sort("created_at").to_list()
