"""Query-string and body parameters of the /ui API, with 422s that name the bad field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from rsf_observability.errors import ProblemError
from starlette.datastructures import QueryParams

E = TypeVar("E", bound=StrEnum)

MAX_LIMIT = 100


def _invalid(field: str, message: str) -> ProblemError:
    return ProblemError(422, f"{field}: {message}", details={"field": field})


@dataclass(frozen=True)
class Paging:
    page: int = 1
    limit: int = 20

    @property
    def skip(self) -> int:
        return (self.page - 1) * self.limit


def _int(params: QueryParams, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise _invalid(name, f"must be an integer from {low} to {high}")
    return int(raw)


def paging(params: QueryParams) -> Paging:
    return Paging(_int(params, "page", 1, 1, 1_000_000), _int(params, "limit", 20, 1, MAX_LIMIT))


def multi(params: QueryParams, name: str) -> list[str]:
    """``?state=A&state=B``, ``?state[]=A`` and ``?state=A,B`` all mean ``[A, B]``."""
    values: list[str] = []
    for raw in (*params.getlist(name), *params.getlist(f"{name}[]")):
        values.extend(part.strip() for part in raw.split(",") if part.strip())
    return values


def enum_values(params: QueryParams, name: str, kind: type[E]) -> list[str]:
    allowed = {member.value for member in kind}
    values = multi(params, name)
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise _invalid(name, f"unknown value(s) {unknown}; allowed: {sorted(allowed)}")
    return values


def parse_datetime(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise _invalid(field, "must be an ISO-8601 date or date-time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(field, "must be an ISO-8601 date or date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def date_range(params: QueryParams, field: str, prefix: str) -> dict[str, datetime]:
    """``{prefix}_from`` / ``{prefix}_to`` as a MongoDB range on ``field``."""
    bounds: dict[str, datetime] = {}
    for suffix, operator in (("from", "$gte"), ("to", "$lte")):
        raw = params.get(f"{prefix}_{suffix}")
        if raw:
            bounds[operator] = parse_datetime(raw, f"{prefix}_{suffix}")
    return bounds


def text(params: QueryParams, name: str, max_length: int = 256) -> str | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_length:
        raise _invalid(name, f"must be at most {max_length} characters")
    return raw


def body_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ProblemError(422, "Body must be a JSON object")
    return body


def object_list(body: dict[str, Any], field: str, *, min_items: int = 1) -> list[dict[str, Any]]:
    items = body.get(field)
    if not isinstance(items, list) or len(items) < min_items:
        raise _invalid(field, f"must be a list of at least {min_items} object(s)")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _invalid(f"{field}[{index}]", "must be an object")
    return items


def string_field(item: dict[str, Any], name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise _invalid(f"{where}.{name}", "must be a non-empty string")
    return value


def strings(values: Iterable[Any], field: str) -> list[str]:
    result = []
    for index, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            raise _invalid(f"{field}[{index}]", "must be a non-empty string")
        result.append(value)
    return result
