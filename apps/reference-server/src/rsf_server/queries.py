"""Read-only listings of the /ui API: filtered, paginated, newest first."""

from __future__ import annotations

from typing import Any

from beanie import Document

from rsf_server.params import Paging


def as_json(document: Document) -> dict[str, Any]:
    """A stored document as JSON: ids as strings, money as its two-decimal string."""
    data: dict[str, Any] = document.model_dump(mode="json")
    return data


async def page_of(
    model: type[Document], query: dict[str, Any], paging: Paging, sort: str = "-created_at"
) -> dict[str, Any]:
    found = model.find(query)
    total = await found.count()
    items = await model.find(query).sort(sort).skip(paging.skip).limit(paging.limit).to_list()
    return {
        "items": [as_json(item) for item in items],
        "total": total,
        "page": paging.page,
        "limit": paging.limit,
    }
