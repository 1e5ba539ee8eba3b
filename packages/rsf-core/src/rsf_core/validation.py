"""ONDC message validation with JSON Schema (Draft 2020-12), reporting one JSON pointer.

The schemas live next to this module as package data (``schemas/*.json``), so a deployment can
read exactly what the service enforces. A NACK names a single field: the first error in a fixed
order (by JSON pointer, array indexes numerically), so the same bad message always gets the same
answer, whatever order the validator happens to walk the schema in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from rsf_core.errors import NACK_INVALID_REQUEST, ValidationFailed

__all__ = [
    "NTS10_ACTIONS",
    "RETAIL_ACTIONS",
    "SUPPORTED_ACTIONS",
    "SchemaError",
    "json_pointer",
    "load_schema",
    "validate_message",
]

NTS10_ACTIONS: tuple[str, ...] = ("settle", "on_settle", "recon", "on_recon", "report", "on_report")
RETAIL_ACTIONS: tuple[str, ...] = ("on_confirm", "on_status", "on_update", "on_cancel")
SUPPORTED_ACTIONS: tuple[str, ...] = NTS10_ACTIONS + RETAIL_ACTIONS
_MAX_MESSAGE = 300  # jsonschema messages quote the bad value; a NACK should not echo a megabyte


class SchemaError(ValidationFailed):
    """A message that does not match its schema, or an unsupported action: NACK 70002.

    ``pointer`` is the JSON pointer of the offending field (``""`` for the whole message).
    """

    default_code = "SCHEMA_ERROR"
    nack_code = NACK_INVALID_REQUEST

    def __init__(self, message: str, pointer: str) -> None:
        super().__init__(message, details={"path": pointer})
        self.pointer = pointer


def json_pointer(parts: Iterable[str | int]) -> str:
    """RFC 6901 pointer of a path (``~`` and ``/`` escaped); ``""`` is the whole document."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


@cache
def _raw_schemas() -> dict[str, dict[str, Any]]:
    folder = resources.files("rsf_core").joinpath("schemas")
    return {
        entry.name.removesuffix(".json"): json.loads(entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    }


@cache
def _registry() -> Registry[Any]:
    resources_by_id = [
        (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
        for schema in _raw_schemas().values()
    ]
    return Registry().with_resources(resources_by_id)


@cache
def _validator(action: str) -> Draft202012Validator:
    schema = _raw_schemas()[action]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=_registry())


def load_schema(action: str) -> dict[str, Any]:
    """The JSON Schema enforced for ``action`` (a copy; for docs and the server's OpenAPI)."""
    if action not in SUPPORTED_ACTIONS:
        raise SchemaError(f"Unsupported action: {action}", "/context/action")
    copy: dict[str, Any] = json.loads(json.dumps(_raw_schemas()[action]))
    return copy


def _leaf(error: ValidationError) -> ValidationError:
    """Descend through anyOf/oneOf to the most relevant concrete failure."""
    while error.context:
        chosen = best_match(error.context)
        if chosen is None:
            break
        error = chosen
    return error


def _parts(error: ValidationError) -> list[str | int]:
    """The failing field's path; a missing or unexpected property is named in the path too."""
    parts: list[str | int] = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, Mapping):
        required = error.validator_value if isinstance(error.validator_value, list) else []
        missing = [name for name in required if name not in instance]
        if missing:
            parts.append(missing[0])
    elif error.validator == "additionalProperties" and isinstance(instance, Mapping):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        extra = sorted(name for name in instance if name not in allowed)
        if extra:
            parts.append(extra[0])
    return parts


def _order_key(parts: list[str | int]) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, part, "") if isinstance(part, int) else (1, 0, part) for part in parts)


def validate_message(action: str, payload: Any) -> None:
    """Raise :class:`SchemaError` with the first failing field's pointer unless ``payload`` is valid.

    ``action`` is the route's action (``/api/{action}``); the schema also checks that
    ``context.action`` agrees with it.
    """
    if action not in SUPPORTED_ACTIONS:
        raise SchemaError(f"Unsupported action: {action}", "/context/action")
    candidates = []
    for error in _validator(action).iter_errors(payload):
        leaf = _leaf(error)
        parts = _parts(leaf)
        candidates.append((_order_key(parts), str(leaf.validator), leaf.message, parts))
    if not candidates:
        return
    _, validator, message, parts = min(candidates)
    pointer = json_pointer(parts)
    if validator == "required":
        text = f"{pointer or '/'}: required field is missing"
    elif validator == "additionalProperties":
        text = f"{pointer or '/'}: field is not allowed"
    else:
        text = f"{pointer or '/'}: {message}"
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    raise SchemaError(text, pointer)
