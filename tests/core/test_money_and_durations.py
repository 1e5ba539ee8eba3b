"""Money rounding / formatting and ISO-8601 settlement windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from rsf_core.durations import add_duration, parse_duration
from rsf_core.money import money_str, to_decimal, to_money


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("203.915", "203.92"),
        ("203.925", "203.93"),  # half-up, not banker's
        ("-1.005", "-1.01"),
        (7, "7.00"),
        (0.1 + 0.2, "0.30"),
        (Decimal("1E+2"), "100.00"),
        (" 5.5 ", "5.50"),
    ],
)
def test_money_rounds_half_up_and_prints_two_decimals(value: object, expected: str) -> None:
    assert money_str(value) == expected
    assert to_money(value) == Decimal(expected)


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", None, True, [1]])
def test_non_amounts_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="not an amount"):
        to_decimal(bad)


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ("P1D", datetime(2024, 2, 1, tzinfo=UTC)),
        ("PT48H", datetime(2024, 2, 2, tzinfo=UTC)),
        ("P2W", datetime(2024, 2, 14, tzinfo=UTC)),
        ("P1M", datetime(2024, 2, 29, tzinfo=UTC)),  # clamped to the month's end (leap year)
        ("P1Y", datetime(2025, 1, 31, tzinfo=UTC)),
        ("P1DT12H30M", datetime(2024, 2, 1, 12, 30, tzinfo=UTC)),
        ("PT0.5S", datetime(2024, 1, 31, 0, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_windows_added_to_a_date(window: str, expected: datetime) -> None:
    assert add_duration(datetime(2024, 1, 31, tzinfo=UTC), window) == expected


@pytest.mark.parametrize("bad", ["", "P", "PT", "1D", "P1H", "PT1D", "P1DT", "P-1D", "days"])
def test_malformed_windows_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_duration(bad)


def test_exact_part_is_a_timedelta() -> None:
    assert parse_duration("P3DT4H").exact == timedelta(days=3, hours=4)
