"""Field updates that keep datetimes as BSON dates on every store rsf-core runs on.

nx-27017 (the embedded store of tests and the reference server) stores a top-level ``datetime``
written through ``$set`` as a string ("2026-12-03 18:17:36"), while ``insert_*`` and
``replace_one`` keep a real date. A string date never matches ``$gte`` / ``$lt`` on a datetime,
so time-window counts (success rate) and the stuck-settlement reset would silently see nothing.
MongoDB itself would be fine with ``$set``; the gap is nx-27017's.

So when the fields carry a ``datetime``, each matching document is read, merged and written
back with a standard ``replace_one`` whose filter is the caller's filter plus the ``_id`` (a
concurrent change that makes the filter stop matching makes the write count 0, as
``update_one`` would) plus the ``updated_at`` that was read, when the document has one (so a
concurrent writer's fields are not overwritten by a stale copy: the read-merge-write is
retried). Without a datetime the write is a plain ``$set``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from beanie import Document
from beanie.odm.utils.dump import get_dict
from beanie.odm.utils.encoder import Encoder
from pymongo.asynchronous.collection import AsyncCollection

Collection = AsyncCollection[Mapping[str, Any]]

# A retry means another writer changed the document in between; this bounds a pathological race,
# after which the write falls back to ``$set`` (correct on MongoDB, a string date on nx-27017).
_MAX_ATTEMPTS = 8


def _has_datetime(fields: Mapping[str, Any]) -> bool:
    return any(isinstance(value, datetime) for value in fields.values())


def _merged(
    current: Mapping[str, Any], fields: Mapping[str, Any], push: Mapping[str, Any] | None
) -> dict[str, Any]:
    merged = {**current, **fields}
    for key, value in (push or {}).items():
        merged[key] = [*(current.get(key) or []), value]
    return merged


def _guard(filter: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """``$and`` so that a caller's own ``_id`` condition is kept next to the read ``_id``."""
    clauses: list[Mapping[str, Any]] = [filter, {"_id": current["_id"]}]
    if "updated_at" in current:
        clauses.append({"updated_at": current["updated_at"]})
    return {"$and": clauses}


def _set_update(fields: Mapping[str, Any], push: Mapping[str, Any] | None) -> dict[str, Any]:
    update: dict[str, Any] = {"$set": dict(fields)}
    if push:
        update["$push"] = dict(push)
    return update


async def _replace_one_doc(
    collection: Collection,
    filter: Mapping[str, Any],
    fields: Mapping[str, Any],
    push: Mapping[str, Any] | None,
) -> int:
    for _ in range(_MAX_ATTEMPTS):
        current = await collection.find_one(filter)
        if current is None:
            return 0
        result = await collection.replace_one(
            _guard(filter, current), _merged(current, fields, push)
        )
        if result.matched_count:
            return int(result.modified_count)
    result = await collection.update_one(filter, _set_update(fields, push))
    return int(result.modified_count)


async def set_fields(
    collection: Collection,
    filter: Mapping[str, Any],
    fields: Mapping[str, Any],
    *,
    push: Mapping[str, Any] | None = None,
) -> int:
    """``update_one(filter, {"$set": fields, "$push": push})``; returns the modified count."""
    if not _has_datetime(fields):
        result = await collection.update_one(filter, _set_update(fields, push))
        return int(result.modified_count)
    return await _replace_one_doc(collection, filter, fields, push)


async def set_fields_many(
    collection: Collection, filter: Mapping[str, Any], fields: Mapping[str, Any]
) -> int:
    """``update_many(filter, {"$set": fields})``; returns the modified count.

    Like ``update_many`` on MongoDB, each document is written on its own (not atomically as a
    set); a document that stops matching ``filter`` before its turn is left alone.
    """
    if not _has_datetime(fields):
        result = await collection.update_many(filter, {"$set": dict(fields)})
        return int(result.modified_count)
    # The ids are read first: a cursor left open across replaces may yield a document again.
    ids = [doc["_id"] async for doc in collection.find(filter, projection={"_id": True})]
    modified = 0
    for doc_id in ids:
        one = {"$and": [filter, {"_id": doc_id}]}
        modified += await _replace_one_doc(collection, one, fields, None)
    return modified


async def set_document_fields(document: Document, fields: Mapping[str, Any]) -> None:
    """``document.set(fields)`` (Beanie) with dates kept; the in-memory document is updated too.

    ``fields`` are model field names with Python values (enums, Decimals, models), encoded as
    Beanie would encode them (with the model's ``bson_encoders``).
    """
    encoders = document.get_settings().bson_encoders
    encoded = Encoder(custom_encoders=encoders, to_db=True).encode(dict(fields))
    await set_fields(type(document).get_pymongo_collection(), {"_id": document.id}, encoded)
    for name, value in fields.items():
        setattr(document, name, value)


async def save_document(document: Document) -> None:
    """``document.save()`` of a stored document, as one ``replace_one`` by ``_id``.

    Beanie's ``save`` is an upserting ``$set`` of the whole document. Dates were seen to survive
    that on nx-27017 (unlike a ``$set`` of some fields), but ``replace_one`` is the write nx is
    known to store dates from, so edits of a loaded document do not depend on that behaviour.
    """
    await (
        type(document)
        .get_pymongo_collection()
        .replace_one({"_id": document.id}, get_dict(document, to_db=True))
    )
