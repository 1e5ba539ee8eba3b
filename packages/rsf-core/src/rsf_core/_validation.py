"""Turn pydantic validation errors into the domain's ``ValidationFailed``."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from rsf_core.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """``[{"field": "provider_details.0.ifsc_code", "message": "Field required"}, ...]``."""
    return [
        {"field": ".".join(str(part) for part in err["loc"]) or "(body)", "message": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


def parse(model: type[M], data: Any, what: str) -> M:
    """``data`` validated as ``model``, or ``ValidationFailed`` listing every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        first = errors[0]
        raise ValidationFailed(
            f"Invalid {what}: {first['field']}: {first['message']}",
            details={"errors": errors},
        ) from None
