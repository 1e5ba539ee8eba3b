"""The RSF collections as Beanie 2.x documents, with the spec's unique indexes.

Storage conventions, applied by every document's ``Settings.bson_encoders``:

- Money and rates are ``Decimal`` in Python and stored as plain decimal strings ("203.92").
  Decimal128 is the standard MongoDB type, but nx-27017 cannot serialise it (insert fails with
  "Object of type Decimal128 is not JSON serializable"), so strings are used everywhere. Never
  filter or sort on money in a query: string order is not numeric order.
- Timestamps are timezone-aware UTC (a naive value is taken to be UTC); the client is created
  with ``tz_aware=True`` so what is read back is aware too.
- ``user_id`` is the owning Participant's id as a string: everything is scoped by it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from beanie import Document
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from rsf_core.enums import (
    Applicability,
    CollectedBy,
    OrderState,
    ReconStatus,
    Role,
    SettlementStatus,
    SettlementType,
    SettleStatus,
    Strategy,
)
from rsf_core.money import to_decimal


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, timezone-aware UTC, truncated to milliseconds (what BSON dates keep)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]
Amount = Annotated[Decimal, BeforeValidator(to_decimal)]


def _decimal_to_db(value: Decimal) -> str:
    return format(value, "f")


_ENCODERS: dict[Any, Any] = {Decimal: _decimal_to_db}


# --- embedded models -------------------------------------------------------------------------


class ProviderDetail(BaseModel):
    provider_name: str
    provider_id: str
    account_number: str
    ifsc_code: str
    bank_name: str


class CounterpartyInfo(BaseModel):
    id: str
    nickname: str | None = None


class BreakupLine(BaseModel):
    """One quote line: ``title`` is ``@ondc/org/title_type`` (item, tax, delivery, ...)."""

    title: str
    price: Amount
    id: str | None = None


class Quote(BaseModel):
    total_order_value: Amount
    breakup: list[BreakupLine] = Field(default_factory=list)


class ReconBreakdown(BaseModel):
    """The five figures NPs reconcile on."""

    amount: Amount
    commission: Amount
    withholding_amount: Amount
    tcs: Amount
    tds: Amount


# --- documents -------------------------------------------------------------------------------


class Participant(Document):
    """A network participant this RSF Utility acts for (the original tool calls it a user)."""

    title: str
    role: Role
    subscriber_url: str
    domain: str
    np_tcs: Amount = Decimal(0)
    np_tds: Amount = Decimal(0)
    pr_tcs: Amount | None = None
    pr_tds: Amount | None = None
    tcs_applicability: Applicability = Applicability.NONE
    tds_applicability: Applicability = Applicability.NONE
    msn: bool = False
    provider_details: list[ProviderDetail] = Field(default_factory=list)
    counterparty_infos: list[CounterpartyInfo] = Field(default_factory=list)
    created_at: UtcDateTime = Field(default_factory=utcnow)
    updated_at: UtcDateTime = Field(default_factory=utcnow)

    class Settings:
        name = "users"
        bson_encoders = _ENCODERS
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel([("title", ASCENDING)], unique=True, name="title_unique"),
            IndexModel(
                [("role", ASCENDING), ("subscriber_url", ASCENDING), ("domain", ASCENDING)],
                unique=True,
                name="role_subscriber_url_domain_unique",
            ),
        ]


class Order(Document):
    """A retail order as seen by one participant (``user_id``), with its derived amounts.

    ``counterparty_id`` is derived: the other side's subscriber id (bpp_id for a BAP user,
    bap_id for a BPP user), for filtering.
    """

    order_id: str
    user_id: str
    bap_id: str
    bap_uri: str
    bpp_id: str
    bpp_uri: str
    domain: str
    counterparty_id: str | None = None
    provider_id: str | None = None
    state: OrderState
    collected_by: CollectedBy | None = None
    msn: bool = False
    buyer_finder_fee_type: str | None = None
    buyer_finder_fee_amount: Amount = Decimal("0.00")
    settlement_basis: str | None = None
    settlement_window: str | None = None
    withholding_amount: Amount = Decimal("0.00")
    item_tax: Amount = Decimal("0.00")
    quote: Quote | None = None
    settle_status: SettleStatus = SettleStatus.READY
    due_date: UtcDateTime | None = None
    created_at: UtcDateTime = Field(default_factory=utcnow)
    updated_at: UtcDateTime = Field(default_factory=utcnow)

    @property
    def total_order_value(self) -> Decimal:
        return self.quote.total_order_value if self.quote else Decimal("0.00")

    class Settings:
        name = "orders"
        bson_encoders = _ENCODERS
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel(
                [("order_id", ASCENDING), ("user_id", ASCENDING)],
                unique=True,
                name="order_id_user_id_unique",
            ),
            IndexModel([("user_id", ASCENDING), ("settle_status", ASCENDING)]),
        ]


class Settlement(Document):
    """One order's settlement for one participant.

    ``settled_date`` is when the settlement reached a final status (SETTLED or NOT_SETTLED,
    including a "Timeout reset"); ``initiated_date`` is when the settle was ACKed.
    The business metrics read both. MISC settlements carry ``provider_amount`` / ``self_amount``.
    """

    settlement_id: str
    order_id: str
    user_id: str
    collector_id: str
    receiver_id: str
    total_order_value: Amount = Decimal("0.00")
    commission: Amount = Decimal("0.00")
    collector_settlement: Amount = Decimal("0.00")
    tds: Amount = Decimal("0.00")
    tcs: Amount = Decimal("0.00")
    withholding_amount: Amount = Decimal("0.00")
    inter_np_settlement: Amount = Decimal("0.00")
    provider_amount: Amount | None = None
    self_amount: Amount | None = None
    provider_id: str | None = None
    due_date: UtcDateTime | None = None
    type: SettlementType = SettlementType.NP_NP
    strategy: Strategy = Strategy.USER
    status: SettlementStatus = SettlementStatus.PREPARED
    provider_status: SettlementStatus = SettlementStatus.PREPARED
    self_status: SettlementStatus = SettlementStatus.PREPARED
    settlement_reference: str | None = None
    provider_settlement_reference: str | None = None
    self_settlement_reference: str | None = None
    error: str | None = None
    initiated_date: UtcDateTime | None = None
    settled_date: UtcDateTime | None = None
    transaction_ids: list[str] = Field(default_factory=list)
    created_at: UtcDateTime = Field(default_factory=utcnow)
    updated_at: UtcDateTime = Field(default_factory=utcnow)

    class Settings:
        name = "settles"
        bson_encoders = _ENCODERS
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel(
                [("user_id", ASCENDING), ("order_id", ASCENDING)],
                unique=True,
                name="user_id_order_id_unique",
            ),
            IndexModel([("settlement_id", ASCENDING)]),
            IndexModel([("status", ASCENDING), ("initiated_date", ASCENDING)]),
            IndexModel([("settled_date", ASCENDING)]),
        ]


class Reconciliation(Document):
    """A recon for one order, sent by or received by ``user_id``.

    ``recon_accord`` and ``answered_at`` are set when the on_recon answer is sent or received
    (they survive move-to-ready, which sets the status INACTIVE); ``discrepancy`` is the sum of
    the answer's diff values. The accuracy metric reads them.
    """

    user_id: str
    order_id: str
    collector_id: str
    receiver_id: str
    settlement_id: str | None = None
    payment_id: str | None = None
    transaction_id: str | None = None
    message_id: str | None = None
    recon_status: ReconStatus = ReconStatus.INACTIVE
    recon_breakdown: ReconBreakdown | None = None
    on_recon_breakdown: ReconBreakdown | None = None
    on_recon_error: dict[str, Any] | None = None
    recon_accord: bool | None = None
    discrepancy: Amount | None = None
    due_date: UtcDateTime | None = None
    recon_date: UtcDateTime | None = None
    answered_at: UtcDateTime | None = None
    created_at: UtcDateTime = Field(default_factory=utcnow)
    updated_at: UtcDateTime = Field(default_factory=utcnow)

    class Settings:
        name = "recons"
        bson_encoders = _ENCODERS
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel(
                [("user_id", ASCENDING), ("order_id", ASCENDING)],
                unique=True,
                name="user_id_order_id_unique",
            ),
            IndexModel([("transaction_id", ASCENDING), ("message_id", ASCENDING)]),
            IndexModel([("answered_at", ASCENDING)]),
        ]


class RsfTransaction(Document):
    """A raw NTS10 message (settle, on_settle, recon, on_recon, report, on_report).

    The unique index on (context.transaction_id, context.action, context.message_id) is what
    makes a repeated incoming message detectable (DuplicateKeyError -> ACK, not reprocessed).
    ``direction`` is "incoming" or "outgoing"; ``ack_status`` / ``response`` hold the answer.
    """

    model_config = ConfigDict(extra="allow")

    context: dict[str, Any]
    message: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    user_id: str | None = None
    direction: str | None = None
    ack_status: str | None = None
    response: dict[str, Any] | None = None
    created_at: UtcDateTime = Field(default_factory=utcnow)
    updated_at: UtcDateTime = Field(default_factory=utcnow)

    class Settings:
        name = "rsf_transactions"
        bson_encoders = _ENCODERS
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel(
                [
                    ("context.transaction_id", ASCENDING),
                    ("context.action", ASCENDING),
                    ("context.message_id", ASCENDING),
                ],
                unique=True,
                name="context_txn_action_msg_unique",
            ),
        ]


class RsfPayload(Document):
    """The audit trail of one /api, /ui or trigger exchange (request and answer, redacted)."""

    operation: str
    method: str
    route: str | None = None
    action: str | None = None
    transaction_id: str | None = None
    message_id: str | None = None
    participant: str | None = None
    correlation_id: str | None = None
    status_code: int
    ack_status: str | None = None
    duration_ms: float = 0.0
    request: Any = None
    response: Any = None
    created_at: UtcDateTime = Field(default_factory=utcnow)

    class Settings:
        name = "rsf_payloads"
        bson_encoders = _ENCODERS
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel([("created_at", DESCENDING)], name="created_at"),
            IndexModel([("transaction_id", ASCENDING), ("message_id", ASCENDING)]),
        ]


class AlertLog(Document):
    """An Alertmanager alert as received by the webhook (one record per key)."""

    alertname: str
    severity: str
    status: str
    fingerprint: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    description: str | None = None
    generator_url: str | None = None
    starts_at: UtcDateTime
    ends_at: UtcDateTime | None = None
    received_at: UtcDateTime = Field(default_factory=utcnow)
    handled_by: list[str] = Field(default_factory=list)

    class Settings:
        name = "alert_logs"
        bson_encoders = _ENCODERS
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel(
                [("fingerprint", ASCENDING), ("starts_at", ASCENDING), ("status", ASCENDING)],
                unique=True,
                name="fingerprint_starts_at_status_unique",
            ),
            IndexModel([("received_at", DESCENDING)]),
        ]


ALL_DOCUMENTS: list[type[Document]] = [
    Participant,
    Order,
    Settlement,
    Reconciliation,
    RsfTransaction,
    RsfPayload,
    AlertLog,
]

COLLECTION_NAMES: frozenset[str] = frozenset(str(doc.Settings.name) for doc in ALL_DOCUMENTS)
