"""Amount corrections of not-yet-sent settlements (``PATCH /ui/settle/{user_id}``), JSON or CSV.

Only a settlement that has not gone out (PREPARED) or came back NOT_SETTLED (it may be re-sent)
may change; a PENDING or SETTLED one is what the network already saw. Every row is validated,
and every settlement looked up, before anything is written, so a bad row writes nothing.

Writes are one ``replace_one`` of the whole encoded document per settlement: nx-27017 stores a
datetime written through ``$set`` as a string, which would turn ``updated_at`` into text.
nx-27017 has no multi-document transactions, so a settlement that changes status between the
check and its write (a concurrent send) is refused with :class:`Conflict` after the rows before
it were written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from beanie.odm.utils.dump import get_dict

from rsf_core.enums import SettlementStatus
from rsf_core.errors import BusinessRuleViolation, Conflict, NotFound, ValidationFailed
from rsf_core.models import Settlement, utcnow
from rsf_core.money import to_money

UPDATABLE_FIELDS: tuple[str, ...] = (
    "inter_np_settlement",
    "collector_settlement",
    "commission",
    "tds",
    "tcs",
    "withholding_amount",
    "provider_amount",
    "self_amount",
)
EDITABLE_STATUSES: frozenset[SettlementStatus] = frozenset(
    {SettlementStatus.PREPARED, SettlementStatus.NOT_SETTLED}
)


@dataclass(frozen=True)
class AmountUpdate:
    """New amounts for one order's settlement; ``amounts`` maps field name to money."""

    order_id: str
    amounts: Mapping[str, Decimal] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any], where: str) -> AmountUpdate:
        """A row ``{order_id, <field>: amount, ...}``; ``where`` names the row in errors."""
        order_id = row.get("order_id")
        if not isinstance(order_id, str) or not order_id.strip():
            raise ValidationFailed(
                f"{where}: order_id is required", details={"row": where, "field": "order_id"}
            )
        amounts = {}
        for name, value in row.items():
            if name == "order_id":
                continue
            amounts[name] = _amount(value, name, order_id.strip(), where)
        return cls(order_id.strip(), amounts)


def _amount(value: object, name: str, order_id: str, where: str) -> Decimal:
    details = {"row": where, "order_id": order_id, "field": name}
    if name not in UPDATABLE_FIELDS:
        raise ValidationFailed(
            f"{where}: {name} cannot be updated (allowed: {', '.join(UPDATABLE_FIELDS)})",
            details=details,
        )
    try:
        money = to_money(value)
    except ValueError as exc:
        raise ValidationFailed(f"{where}: {name} is not an amount", details=details) from exc
    if money < 0:
        raise ValidationFailed(f"{where}: {name} must not be negative", details=details)
    return money


def parse_amount_csv(text: str) -> list[AmountUpdate]:
    """Rows of a CSV with a header of ``order_id`` and any of :data:`UPDATABLE_FIELDS`.

    An empty cell leaves that field as it is. Errors name the line (1 is the header).
    """
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or not any(cell.strip() for cell in header):
        raise ValidationFailed("line 1: the CSV has no header row", details={"line": 1})
    columns = [cell.strip() for cell in header]
    unknown = [c for c in columns if c != "order_id" and c not in UPDATABLE_FIELDS]
    if "order_id" not in columns or unknown:
        problem = f"unknown column(s) {unknown}" if unknown else "order_id column is missing"
        raise ValidationFailed(
            f"line 1: {problem}; allowed: order_id, {', '.join(UPDATABLE_FIELDS)}",
            details={"line": 1, "columns": unknown},
        )
    if len(set(columns)) != len(columns):
        raise ValidationFailed("line 1: a column is repeated", details={"line": 1})
    updates = []
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(columns):
            raise ValidationFailed(
                f"line {line}: {len(cells)} cells, the header has {len(columns)}",
                details={"line": line},
            )
        row = {c: v.strip() for c, v in zip(columns, cells, strict=True)}
        row = {c: v for c, v in row.items() if v or c == "order_id"}
        try:
            updates.append(AmountUpdate.from_mapping(row, f"line {line}"))
        except ValidationFailed as exc:
            exc.details["line"] = line
            raise
    return updates


def _check_updates(updates: Sequence[AmountUpdate]) -> None:
    if not updates:
        raise ValidationFailed("No settlement amounts to update")
    seen: set[str] = set()
    for update in updates:
        if update.order_id in seen:
            raise ValidationFailed(
                f"Order {update.order_id} appears more than once",
                details={"order_id": update.order_id},
            )
        seen.add(update.order_id)
        if not update.amounts:
            raise ValidationFailed(
                f"Order {update.order_id}: no amount to update",
                details={"order_id": update.order_id},
            )
        for name, value in update.amounts.items():
            _amount(value, name, update.order_id, f"order {update.order_id}")


async def _load(user_id: str, order_ids: Iterable[str]) -> dict[str, Settlement]:
    found = await Settlement.find(
        {"user_id": user_id, "order_id": {"$in": list(order_ids)}}
    ).to_list()
    return {s.order_id: s for s in found}


async def update_settlement_amounts(
    user_id: str, updates: Sequence[AmountUpdate]
) -> list[Settlement]:
    """Apply ``updates`` to ``user_id``'s settlements; all rows are checked before any write.

    Raises :class:`ValidationFailed` (bad field or amount, repeated order), :class:`NotFound`
    (no settlement for an order), :class:`BusinessRuleViolation` (status not PREPARED or
    NOT_SETTLED). Returns the updated settlements in the order of ``updates``.
    """
    _check_updates(updates)
    settlements = await _load(user_id, (u.order_id for u in updates))
    for update in updates:
        settlement = settlements.get(update.order_id)
        if settlement is None:
            raise NotFound(
                f"No settlement for order {update.order_id}",
                details={"order_id": update.order_id},
            )
        if settlement.status not in EDITABLE_STATUSES:
            raise BusinessRuleViolation(
                f"Settlement of order {update.order_id} is {settlement.status.value}; "
                "only PREPARED or NOT_SETTLED amounts can change",
                code="SETTLEMENT_NOT_EDITABLE",
                details={"order_id": update.order_id, "status": settlement.status.value},
            )
    now = utcnow()
    collection = Settlement.get_pymongo_collection()
    changed = []
    for update in updates:
        settlement = settlements[update.order_id]
        for name, value in update.amounts.items():
            setattr(settlement, name, to_money(value))
        settlement.updated_at = now
        guard = {
            "_id": settlement.id,
            "status": {"$in": [status.value for status in EDITABLE_STATUSES]},
        }
        result = await collection.replace_one(guard, get_dict(settlement, to_db=True))
        if not result.matched_count:
            raise Conflict(
                f"Settlement of order {update.order_id} changed status while updating",
                details={"order_id": update.order_id},
            )
        changed.append(settlement)
    return changed
