"""Document storage behind one port, with SQLite and MongoDB adapters (and an
in-memory one for tests)."""
from __future__ import annotations

from typing import Iterable

from .base import (
    Collection,
    CollectionSpec,
    CounterChange,
    DuplicateKeyError,
    Index,
    MAIL_FAILED,
    MAIL_PENDING,
    InvalidData,
    OutboxMail,
    OutboxMessage,
    PendingMail,
    Query,
    StorageError,
    StorageUnavailable,
    Store,
    has_control_characters,
)


def open_store(url: str, outbox: Iterable[CollectionSpec] = ()) -> Store:
    """``sqlite:///relative.sqlite3``, ``sqlite:////abs/path.sqlite3`` or ``mongodb://host/db`` (``mongodb+srv`` too);
    ``memory://`` (a private in-memory store) or ``memory://name`` (the process-wide one of that name) for tests.

    ``outbox`` names the collections whose writes carry events: the MongoDB
    adapter keeps each pending event inside its document, so its relay reads
    exactly those collections (SQLite has one outbox table for all; the
    in-memory adapter, like MongoDB, relays only those and refuses events
    written anywhere else)."""
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteStore

        return SQLiteStore(url[len("sqlite:///"):])
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from .mongo import MongoStore

        return MongoStore(url, outbox=outbox)
    if url.startswith("memory://"):
        from .memory import MemoryStore

        return MemoryStore(url[len("memory://"):] or None, outbox=outbox)
    raise ValueError(f"unsupported storage URL scheme: {url.split(':', 1)[0]!r}")


__all__ = [
    "Collection", "CollectionSpec", "CounterChange", "DuplicateKeyError", "Index", "InvalidData", "OutboxMessage",
    "Query", "StorageError", "StorageUnavailable", "Store", "has_control_characters", "open_store",
]
