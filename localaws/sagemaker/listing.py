"""SageMaker's List* request filters, shared by the training-job and endpoint listings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypeVar


class Listed(Protocol):
    name: str
    status: str
    created: Any


T = TypeVar("T", bound=Listed)


def listed(items: Iterable[T], params: dict[str, Any], limit: int | None = None) -> list[T]:
    """`NameContains`, `StatusEquals`, `SortBy` (`Name` or the creation time), `SortOrder`
    (Descending by default), then at most `limit` items."""
    found = list(items)
    if params.get("NameContains"):
        found = [i for i in found if params["NameContains"] in i.name]
    if params.get("StatusEquals"):
        found = [i for i in found if i.status == params["StatusEquals"]]
    key = (lambda i: i.name) if params.get("SortBy") == "Name" else (lambda i: i.created)
    found.sort(key=key, reverse=params.get("SortOrder", "Descending") == "Descending")
    return found if limit is None else found[:limit]
