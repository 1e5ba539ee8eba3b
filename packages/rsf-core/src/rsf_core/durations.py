"""ISO-8601 durations (``P1D``, ``PT48H``, ``P1M``, ``P1Y2M3DT4H5M6.5S``, ``P2W``).

No date library is installed, and settlement windows need only the designators above, so this
small parser does it. Years and months are calendar steps (Jan 31 + P1M = Feb 28/29), applied
before the exact part, as ISO-8601 arithmetic prescribes.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

_DURATION = re.compile(
    r"^P(?!$)"
    r"(?:(?P<years>\d+)Y)?"
    r"(?:(?P<months>\d+)M)?"
    r"(?:(?P<weeks>\d+)W)?"
    r"(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)"
    r"(?:(?P<hours>\d+)H)?"
    r"(?:(?P<minutes>\d+)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?"
    r")?$"
)


@dataclass(frozen=True)
class Duration:
    years: int = 0
    months: int = 0
    exact: timedelta = timedelta(0)

    def add_to(self, moment: datetime) -> datetime:
        """``moment`` + this duration (calendar part first, clamped to the month's last day)."""
        total_months = moment.month - 1 + self.months + 12 * self.years
        year, month = moment.year + total_months // 12, total_months % 12 + 1
        day = min(moment.day, calendar.monthrange(year, month)[1])
        return moment.replace(year=year, month=month, day=day) + self.exact


def parse_duration(text: str) -> Duration:
    """Parse an ISO-8601 duration; ``ValueError`` for anything else (including ``"P"``, ``"PT"``)."""
    match = _DURATION.match(text.strip().upper()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not an ISO-8601 duration: {text!r}")
    part = {name: value for name, value in match.groupdict().items() if value is not None}
    if not part:
        raise ValueError(f"not an ISO-8601 duration: {text!r}")
    seconds = Decimal(part.get("seconds", "0").replace(",", "."))
    exact = timedelta(
        weeks=int(part.get("weeks", 0)),
        days=int(part.get("days", 0)),
        hours=int(part.get("hours", 0)),
        minutes=int(part.get("minutes", 0)),
        seconds=float(seconds),
    )
    return Duration(int(part.get("years", 0)), int(part.get("months", 0)), exact)


def add_duration(moment: datetime, duration: str) -> datetime:
    return parse_duration(duration).add_to(moment)
