"""The storage port every service's repository is written against.

A store holds collections of JSON documents (dicts keyed by ``id``) and an
outbox. Two adapters implement it, SQLite (the embedded default) and MongoDB;
both pass ``tests/contract``. Each document carries a store-managed revision
``_rev`` for optimistic concurrency, independent of any domain version.

Events handed to ``insert``/``replace`` are stored in the same atomic write as
the document (one SQLite transaction, or inside the MongoDB document itself)
and later relayed to the broker, so an acknowledged write never loses its
event.

Errors, whatever the adapter: ``StorageUnavailable`` when the database cannot
be reached or written now (answered 503, and a consumer holds its message
until it can), ``InvalidData`` when what was asked can never be stored or run
as given (answered 422), ``DuplicateKeyError`` for a unique index.
"""
from __future__ import annotations

import abc
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence


class StorageError(Exception):
    """Base of the errors a store raises."""


class StorageUnavailable(StorageError):
    """The database cannot be reached or written now; retry later (503)."""


class InvalidData(StorageError, ValueError):
    """What was asked can never be stored or run as it is: a document larger
    than the database takes, a value it cannot encode, control characters in
    a search text. Retrying cannot help (422, and a consumer does not retry it)."""


class DuplicateKeyError(StorageError):
    """A unique index refused the write. ``fields`` names the index fields."""

    def __init__(self, fields: Sequence[str]):
        super().__init__(f"duplicate value for {', '.join(fields)}")
        self.fields = tuple(fields)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a control character (Unicode category Cc: NUL,
    line breaks, escape...): none belongs in a search text, and MongoDB
    refuses a pattern with a NUL byte."""
    return _CONTROL.search(text) is not None


@dataclass(frozen=True)
class Index:
    """An index on dotted document paths, ascending unless named in ``descending``.

    Unique indexes only constrain documents where every field is a string, so
    erased accounts (email set to ``None``) never collide.

    Every other index ends with the document id, in the direction of its last
    field: a list sorted by its fields (see ``Query.order``) is then read in
    index order, tie-breaker included, instead of being sorted in memory. The
    name does not depend on the directions or on the id, so changing them is
    a changed definition under the same name, which the adapters migrate.
    """

    fields: tuple[str, ...]
    unique: bool = False
    descending: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.descending) - set(self.fields)
        if unknown:
            raise ValueError(f"descending names fields the index does not have: {sorted(unknown)}")

    @property
    def name(self) -> str:
        return "ix_" + "__".join(f.replace(".", "_") for f in self.fields)

    @property
    def keys(self) -> tuple[tuple[str, int], ...]:
        """(path, 1 | -1) pairs as the index is built, the id tie-breaker included."""
        keys = tuple((f, -1 if f in self.descending else 1) for f in self.fields)
        if not self.unique and "id" not in self.fields:
            keys += (("id", keys[-1][1]),)
        return keys


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
    bound; ``search``: (paths, text), case-insensitive substring in any path
    (text without control characters, else ``InvalidData``);
    ``sort``: (path, 1 | -1) pairs, the id is always the last tie-breaker,
    in the direction of the last pair (ascending when there is none), so one
    index read forwards or backwards serves a sort and its reverse
    (``order``).
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
        if self.search and has_control_characters(self.search[1]):
            raise InvalidData("a search text must not contain control characters")

    @property
    def order(self) -> tuple[tuple[str, int], ...]:
        """The whole sort, the id tie-breaker included."""
        if any(path == "id" for path, _ in self.sort):
            return self.sort
        last = self.sort[-1][1] if self.sort else 1
        return (*self.sort, ("id", -1 if last < 0 else 1))


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
        """Raise StorageUnavailable unless the database takes a write now:
        readiness (``/salud``) must not say ready while every write would
        fail (SQLite: the file is writable and its write lock can be had;
        MongoDB: a write with the store's write concern goes through)."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def relay_address(self) -> str | bytes | None:
        """Where the outbox relay can listen to be woken when events are
        written (see ``doorbell``), or None when writers cannot reach it and
        the relay only polls."""
        return None
