"""The ONDC RSF 2.0 settlement and reconciliation domain on Beanie."""

# --- storage (models, enums, money, db) -----------------------------------------------------
from rsf_core.db import init_db
from rsf_core.db_metrics import CommandMetricsListener
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
from rsf_core.errors import (
    NACK_BUSINESS_RULE,
    NACK_GENERIC,
    NACK_INVALID_REQUEST,
    NACK_INVALID_SIGNATURE,
    NACK_NOT_PROCESSABLE,
    BusinessRuleViolation,
    Conflict,
    DomainError,
    NotFound,
    ValidationFailed,
)
from rsf_core.models import (
    ALL_DOCUMENTS,
    AlertLog,
    BreakupLine,
    CounterpartyInfo,
    Order,
    Participant,
    ProviderDetail,
    Quote,
    ReconBreakdown,
    Reconciliation,
    RsfPayload,
    RsfTransaction,
    Settlement,
    utcnow,
)
from rsf_core.money import money_str, to_decimal, to_money

__all__ = [
    "ALL_DOCUMENTS",
    "NACK_BUSINESS_RULE",
    "NACK_GENERIC",
    "NACK_INVALID_REQUEST",
    "NACK_INVALID_SIGNATURE",
    "NACK_NOT_PROCESSABLE",
    "AlertLog",
    "Applicability",
    "BreakupLine",
    "BusinessRuleViolation",
    "CollectedBy",
    "CommandMetricsListener",
    "Conflict",
    "CounterpartyInfo",
    "DomainError",
    "NotFound",
    "Order",
    "OrderState",
    "Participant",
    "ProviderDetail",
    "Quote",
    "ReconBreakdown",
    "ReconStatus",
    "Reconciliation",
    "Role",
    "RsfPayload",
    "RsfTransaction",
    "SettleStatus",
    "Settlement",
    "SettlementStatus",
    "SettlementType",
    "Strategy",
    "ValidationFailed",
    "init_db",
    "money_str",
    "to_decimal",
    "to_money",
    "utcnow",
]

# --- services: participants, ingestion, tax, settlement prep, stuck, metrics, stores --------
from rsf_core.alert_log_store import MongoAlertStore
from rsf_core.audit_store import RsfPayloadAuditSink
from rsf_core.business_metrics import (
    BusinessMetricsCollector,
    BusinessSnapshot,
    observe_discrepancy,
    observe_recon_duration,
    observe_settlement_duration,
    record_settle_outcome,
    record_settled_volume,
    settled_amount,
)
from rsf_core.durations import add_duration, parse_duration
from rsf_core.enums import FINAL_SETTLEMENT_STATUSES
from rsf_core.ingestion import IngestOutcome, IngestResult, UnknownParticipant, ingest_order
from rsf_core.order_facts import RETAIL_ACTIONS, OrderFacts, order_facts
from rsf_core.participants import (
    UPDATABLE_FIELDS,
    create_participant,
    delete_participant,
    get_participant,
    list_participants,
    update_participant,
)
from rsf_core.settlement_prep import PrepareRequest, prepare_settlements
from rsf_core.stuck import TIMEOUT_RESET_ERROR, count_stuck_settlements, reset_stuck_settlements
from rsf_core.tax import (
    OrderAmounts,
    SettlementAmounts,
    TaxRates,
    applies,
    recon_strategy,
    user_strategy,
)

__all__ += [
    "FINAL_SETTLEMENT_STATUSES",
    "RETAIL_ACTIONS",
    "TIMEOUT_RESET_ERROR",
    "UPDATABLE_FIELDS",
    "BusinessMetricsCollector",
    "BusinessSnapshot",
    "IngestOutcome",
    "IngestResult",
    "MongoAlertStore",
    "OrderAmounts",
    "OrderFacts",
    "PrepareRequest",
    "RsfPayloadAuditSink",
    "SettlementAmounts",
    "TaxRates",
    "UnknownParticipant",
    "add_duration",
    "applies",
    "count_stuck_settlements",
    "create_participant",
    "delete_participant",
    "get_participant",
    "ingest_order",
    "list_participants",
    "observe_discrepancy",
    "observe_recon_duration",
    "observe_settlement_duration",
    "order_facts",
    "parse_duration",
    "prepare_settlements",
    "recon_strategy",
    "record_settle_outcome",
    "record_settled_volume",
    "reset_stuck_settlements",
    "settled_amount",
    "update_participant",
    "user_strategy",
]
# --- end services block ------------------------------------------------------------------------
