"""The storage port every service's repository is written against.

A store holds collections of JSON documents (dicts keyed by ``id``) and an
outbox. Two adapters implement it, SQLite (the embedded default) and MongoDB;
both pass ``tests/contract``. Each document carries a store-managed revision
``_rev`` for optimistic concurrency, independent of any domain version.

Events handed to ``insert``/``replace`` are stored in the same atomic write as
the document (one SQLite transaction, or inside the MongoDB document itself)
and later relayed to the broker, so an acknowledged write never loses its
event.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence


class StorageError(Exception):
    """Base of the errors a store raises."""


class StorageUnavailable(StorageError):
    """The database cannot be reached or written now; retry later (503)."""


class DuplicateKeyError(StorageError):
    """A unique index refused the write. ``fields`` names the index fields."""

    def __init__(self, fields: Sequence[str]):
        super().__init__(f"duplicate value for {', '.join(fields)}")
        self.fields = tuple(fields)


@dataclass(frozen=True)
class Index:
    """An index on dotted document paths.

    Unique indexes only constrain documents where every field is a string, so
    erased accounts (email set to ``None``) never collide.
    """

    fields: tuple[str, ...]
    unique: bool = False

    @property
    def name(self) -> str:
        return "ix_" + "__".join(f.replace(".", "_") for f in self.fields)


@dataclass(frozen=True)
class CollectionSpec:
    name: str
    indexes: tuple[Index, ...] = ()


@dataclass(frozen=True)
class OutboxMessage:
    """An event waiting to be published, as stored next to its change."""

    id: str
    routing_key: str
    body: str
    correlation_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "routing_key": self.routing_key,
            "body": self.body,
            "correlation_id": self.correlation_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "OutboxMessage":
        return cls(data["id"], data["routing_key"], data["body"], data.get("correlation_id"))


@dataclass(frozen=True)
class Query:
    """A small, adapter-neutral query.

    ``equals``: path -> value (``None`` matches null or missing);
    ``any_of``: path -> allowed values; ``less_than``/``at_least``: path ->
    bound; ``search``: (paths, text), case-insensitive substring in any path;
    ``sort``: (path, 1 | -1) pairs, the id is always the last tie-breaker.
    """

    equals: dict[str, Any] = field(default_factory=dict)
    any_of: dict[str, Sequence[Any]] = field(default_factory=dict)
    less_than: dict[str, Any] = field(default_factory=dict)
    at_least: dict[str, Any] = field(default_factory=dict)
    search: tuple[tuple[str, ...], str] | None = None
    sort: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        # Only scalars may be compared: a dict such as {"$ne": None} coming from
        # a request must never reach MongoDB as an operator.
        values = [*self.equals.values(), *self.less_than.values(), *self.at_least.values()]
        for allowed in self.any_of.values():
            values.extend(allowed)
        if self.search:
            values.append(self.search[1])
        for value in values:
            if value is not None and not isinstance(value, _SCALARS):
                raise TypeError(f"query values must be scalars, got {type(value).__name__}")


_SCALARS = (str, int, float, bool)


class Collection(abc.ABC):
    spec: CollectionSpec

    @abc.abstractmethod
    def insert(self, doc: dict[str, Any], events: Sequence[OutboxMessage] = ()) -> dict[str, Any]:
        """Store a new document (``_rev`` 1); raises DuplicateKeyError."""

    @abc.abstractmethod
    def replace(
        self, doc: dict[str, Any], events: Sequence[OutboxMessage] = ()
    ) -> dict[str, Any] | None:
        """Overwrite the document if its stored ``_rev`` still equals ``doc['_rev']``.

        Returns the stored document (new ``_rev``) or ``None`` when someone
        else wrote it first (the caller reloads and retries).
        """

    @abc.abstractmethod
    def get(self, doc_id: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    def find(self, query: Query, skip: int = 0, limit: int | None = None) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def count(self, query: Query) -> int: ...

    @abc.abstractmethod
    def delete(self, doc_id: str) -> bool: ...

    def find_one(self, query: Query) -> dict[str, Any] | None:
        found = self.find(query, limit=1)
        return found[0] if found else None


class Store(abc.ABC):
    """A service's database: its collections and its outbox."""

    @abc.abstractmethod
    def collection(self, spec: CollectionSpec) -> Collection:
        """Open (creating indexes idempotently) a collection."""

    @abc.abstractmethod
    def pending_events(self, limit: int = 100) -> list[OutboxMessage]:
        """Events not yet confirmed by the broker, oldest first per document."""

    @abc.abstractmethod
    def mark_published(self, event_ids: Iterable[str]) -> None: ...

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise StorageUnavailable unless the database answers a write-capable check."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def relay_address(self) -> str | bytes | None:
        """Where the outbox relay can listen to be woken when events are
        written (see ``doorbell``), or None when writers cannot reach it and
        the relay only polls."""
        return None
