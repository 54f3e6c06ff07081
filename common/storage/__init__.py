"""Document storage behind one port, with SQLite and MongoDB adapters."""
from __future__ import annotations

from .base import (
    Collection,
    CollectionSpec,
    DuplicateKeyError,
    Index,
    OutboxMessage,
    Query,
    StorageError,
    StorageUnavailable,
    Store,
)


def open_store(url: str) -> Store:
    """``sqlite:///relative.sqlite3``, ``sqlite:////abs/path.sqlite3`` or ``mongodb://host/db`` (``mongodb+srv`` too)."""
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteStore

        return SQLiteStore(url[len("sqlite:///"):])
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from .mongo import MongoStore

        return MongoStore(url)
    raise ValueError(f"unsupported storage URL scheme: {url.split(':', 1)[0]!r}")


__all__ = [
    "Collection", "CollectionSpec", "DuplicateKeyError", "Index", "OutboxMessage",
    "Query", "StorageError", "StorageUnavailable", "Store", "open_store",
]
