"""The closed vocabularies of the RSF domain (values exactly as they travel and are stored)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    BAP = "BAP"
    BPP = "BPP"


class Applicability(StrEnum):
    """When a participant's TCS / TDS rate applies, relative to the order's msn flag."""

    MSN = "MSN"
    ISN = "ISN"
    BOTH = "BOTH"
    NONE = "NONE"


class OrderState(StrEnum):
    CREATED = "Created"
    ACCEPTED = "Accepted"
    IN_PROGRESS = "In-progress"
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"


class CollectedBy(StrEnum):
    BAP = "BAP"
    BPP = "BPP"


class SettleStatus(StrEnum):
    """Where an order stands in settlement: READY -> SETTLE -> RECON."""

    READY = "READY"
    SETTLE = "SETTLE"
    RECON = "RECON"


class SettlementStatus(StrEnum):
    """PREPARED -> PENDING -> SETTLED | NOT_SETTLED -> IN_RECON."""

    PREPARED = "PREPARED"
    PENDING = "PENDING"
    SETTLED = "SETTLED"
    NOT_SETTLED = "NOT_SETTLED"
    IN_RECON = "IN_RECON"


FINAL_SETTLEMENT_STATUSES: frozenset[SettlementStatus] = frozenset(
    {SettlementStatus.SETTLED, SettlementStatus.NOT_SETTLED}
)


class SettlementType(StrEnum):
    NP_NP = "NP-NP"
    MISC = "MISC"
    NIL = "NIL"


class ReconStatus(StrEnum):
    INACTIVE = "INACTIVE"
    ERROR = "ERROR"
    SENT_PENDING = "SENT_PENDING"
    SENT_ACCEPTED = "SENT_ACCEPTED"
    SENT_REJECTED = "SENT_REJECTED"
    RECEIVED_PENDING = "RECEIVED_PENDING"
    RECEIVED_ACCEPTED = "RECEIVED_ACCEPTED"
    RECEIVED_REJECTED = "RECEIVED_REJECTED"


class Strategy(StrEnum):
    """Where settlement amounts come from: the participant's rates, or an agreed recon."""

    USER = "USER"
    RECON = "RECON"
