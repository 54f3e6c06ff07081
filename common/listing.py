"""A list a use case offers, read one page at a time by the HTTP layer
(``common.http.pagination.paginate``): the use case decides what is listed,
the view only how a page of it is asked for and shown."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Listing(Generic[T]):
    count: Callable[[], int]
    fetch: Callable[[int, int], list[T]]
    """fetch(skip, limit): the items of one page, in the list's stable order."""
