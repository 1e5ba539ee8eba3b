"""Money as ``Decimal``: rounded half-up to paise, written as "203.92".

MongoDB's Decimal128 would be the usual storage, but nx-27017 (the embedded store) cannot
serialise it, so documents store money as these two-decimal strings (see ``models.py``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

PAISE = Decimal("0.01")
ZERO = Decimal("0.00")


def to_decimal(value: object) -> Decimal:
    """Any number-like value as an exact Decimal (floats go through ``str`` to avoid binary noise)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not an amount: {value!r}")
    if isinstance(value, int | str):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValueError(f"not an amount: {value!r}") from exc
    elif isinstance(value, float):
        result = Decimal(str(value))
    else:
        raise ValueError(f"not an amount: {value!r}")
    if not result.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return result


def to_money(value: object) -> Decimal:
    """``value`` rounded half-up to 0.01."""
    return to_decimal(value).quantize(PAISE, rounding=ROUND_HALF_UP)


def money_str(value: object) -> str:
    """The wire form of an amount: always two decimals, e.g. ``"203.92"``."""
    return format(to_money(value), "f")
