"""The storage port every service's repository is written against.

A store holds collections of JSON documents (dicts keyed by ``id``) and an
outbox. Two adapters implement it, SQLite (the embedded default) and MongoDB;
both pass ``tests/contract``. Each document carries a store-managed revision
``_rev`` for optimistic concurrency, independent of any domain version.

Events handed to ``insert``/``replace`` are stored in the same atomic write as
the document (one SQLite transaction, or inside the MongoDB document itself)
and later relayed to the broker, so an acknowledged write never loses its
event.

Mails (``OutboxMail``) are handed among the events and stored the same way,
in a mail outbox the sender claims (``claim_due_mails``: several senders of
one service never hold the same mail at once) and settles (``mail_sent``,
``mail_retry``, ``mail_failed``): an acknowledged change never loses the mail
it decided, and a refused one (a stale revision, a duplicate key) stores
none. A mail lives as long as its document: ``delete`` takes it too.

Counters (``CounterChange``) are handed among the events too: named integers
moved in the same atomic write as the document, so a count kept beside the
documents (an employee's open incidents) never drifts from them, and reading
it (``Store.counters``) costs one lookup instead of a count over the
documents. A refused write moves none; ``delete`` never moves any.

Errors, whatever the adapter: ``StorageUnavailable`` when the database cannot
be reached or written now (answered 503, and a consumer holds its message
until it can), ``InvalidData`` when what was asked can never be stored or run
as given (answered 422), ``DuplicateKeyError`` for a unique index.
"""
from __future__ import annotations

import abc
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence, Union

from common.clock import rfc3339, utc_now

from .text import TextIndex, is_word


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
    """A collection: its name, its indexes and, when its documents can be
    searched by their words, its full-text index (``text``; see ``text``)."""

    name: str
    indexes: tuple[Index, ...] = ()
    text: TextIndex | None = None


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
class OutboxMail:
    """An e-mail waiting to be sent, handed to ``insert``/``replace`` among
    the events and stored in the same atomic write as the change that
    decided it. ``id`` is stable (it makes the Message-ID, so a retry after
    a lost answer is recognisable); ``recipient`` is the account it is for
    (``Store.cancel_mails`` deletes an erased account's mails by it);
    ``body`` is the composed mail as JSON (``common.mail.Mail.to_json``)."""

    id: str
    recipient: str
    body: str


@dataclass(frozen=True)
class PendingMail:
    """A stored mail the sender has not finished with: how many times it
    was tried, when it is due next and when it was stored (RFC 3339, UTC;
    ``created_at`` is what the sender measures a mail's age from)."""

    id: str
    recipient: str
    body: str
    attempts: int
    next_attempt_at: str
    created_at: str


MAIL_PENDING, MAIL_FAILED = "pendiente", "fallido"
# What of a sending error is kept with a mail (the rest of a long SMTP answer
# helps no operator, and in MongoDB it would grow the document).
MAIL_ERROR_MAX_CHARS = 1000

# What a counter holds: what SQLite's INTEGER and MongoDB's int64 both take.
COUNTER_MIN, COUNTER_MAX = -(2 ** 63), 2 ** 63 - 1


def _check_counter_value(what: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"a counter's {what} must be an int, got {type(value).__name__}")
    if not COUNTER_MIN <= value <= COUNTER_MAX:
        raise InvalidData(f"a counter's {what} must fit in 64 bits, got {value}")


def check_counter_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(f"a counter's name must be a non-empty str, got {name!r}")


@dataclass(frozen=True)
class CounterChange:
    """A named counter moved by ``delta`` in the same atomic write as the document it is passed with."""
    name: str
    delta: int

    def __post_init__(self) -> None:
        check_counter_name(self.name)
        _check_counter_value("delta", self.delta)


# What ``insert``/``replace`` take among their events.
OutboxItem = Union[OutboxMessage, OutboxMail, CounterChange]


def split_outbox(items: Iterable[OutboxItem]) -> tuple[list[OutboxMessage], list[OutboxMail]]:
    """The events and the mails handed to one write, each in the order given;
    a mail id given twice in the same write counts once. Counter changes are
    taken apart first (``split_counters``)."""
    events: list[OutboxMessage] = []
    mails: dict[str, OutboxMail] = {}
    for item in items:
        if isinstance(item, OutboxMail):
            mails.setdefault(item.id, item)
        elif isinstance(item, OutboxMessage):
            events.append(item)
        else:
            raise TypeError(f"an outbox item must be an OutboxMessage or an OutboxMail, got {type(item).__name__}")
    return events, list(mails.values())


def merge_counters(changes: Iterable[CounterChange]) -> list[CounterChange]:
    """``changes`` summed per name, in the order each name first appears;
    a name whose changes add up to nothing is left out (a counter never
    moved reads 0 anyway)."""
    totals: dict[str, int] = {}
    for change in changes:
        if not isinstance(change, CounterChange):
            raise TypeError(f"a counter change must be a CounterChange, got {type(change).__name__}")
        totals[change.name] = totals.get(change.name, 0) + change.delta
    return [CounterChange(name, delta) for name, delta in totals.items() if delta]


def split_counters(items: Iterable[OutboxItem]) -> tuple[list[OutboxItem], list[CounterChange]]:
    """The items handed to one write without its counter changes (for
    ``split_outbox``), and those changes merged (``merge_counters``)."""
    rest: list[OutboxItem] = []
    changes: list[CounterChange] = []
    for item in items:
        (changes if isinstance(item, CounterChange) else rest).append(item)
    return rest, merge_counters(changes)


def counter_values(values: Mapping[str, int]) -> dict[str, int]:
    """``values`` checked for ``Store.set_counters``: names and 64-bit ints."""
    checked: dict[str, int] = {}
    for name, value in values.items():
        check_counter_name(name)
        _check_counter_value("value", value)
        checked[name] = value
    return checked


def counter_names(names: Iterable[str]) -> list[str]:
    """The distinct ``names`` asked of ``Store.counters``, in the order given."""
    if isinstance(names, str):
        raise TypeError("counters are asked for by a collection of names, not one str")
    distinct = list(dict.fromkeys(names))
    for name in distinct:
        check_counter_name(name)
    return distinct


def mail_instant(text: str | None = None) -> str:
    """``text`` (RFC 3339) in the one form the mail outbox stores and compares
    as text (``common.clock.rfc3339``: UTC, microseconds, ``Z``), or now."""
    if text is None:
        return rfc3339(utc_now())
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"a mail outbox instant needs its offset: {text!r}")
    return rfc3339(moment)


def mail_error(error: str) -> str:
    return error[:MAIL_ERROR_MAX_CHARS]


@dataclass(frozen=True)
class Query:
    """A small, adapter-neutral query.

    ``equals``: path -> value (``None`` matches null or missing);
    ``any_of``: path -> allowed values; ``contains``: path -> a value the
    list at that path holds (a document without the list matches none);
    ``less_than``/``at_least``: path ->
    bound; ``search``: (paths, text), case-insensitive substring in any path
    (text without control characters, else ``InvalidData``);
    ``text``: words that must all appear in the collection's full-text
    index (``CollectionSpec.text``; see ``text``), each a word and nothing
    else (else ``InvalidData``);
    ``sort``: (path, 1 | -1) pairs, the id is always the last tie-breaker,
    in the direction of the last pair (ascending when there is none), so one
    index read forwards or backwards serves a sort and its reverse
    (``order``). With ``text`` and no ``sort``, the best matches come
    first, ties by id (``ranked``).
    """

    equals: dict[str, Any] = field(default_factory=dict)
    any_of: dict[str, Sequence[Any]] = field(default_factory=dict)
    contains: dict[str, Any] = field(default_factory=dict)
    less_than: dict[str, Any] = field(default_factory=dict)
    at_least: dict[str, Any] = field(default_factory=dict)
    search: tuple[tuple[str, ...], str] | None = None
    text: tuple[str, ...] = ()
    sort: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        # Only scalars may be compared: a dict such as {"$ne": None} coming from
        # a request must never reach MongoDB as an operator.
        values = [*self.equals.values(), *self.contains.values(), *self.less_than.values(), *self.at_least.values()]
        for allowed in self.any_of.values():
            values.extend(allowed)
        if self.search:
            values.append(self.search[1])
        for value in values:
            if value is not None and not isinstance(value, _SCALARS):
                raise TypeError(f"query values must be scalars, got {type(value).__name__}")
        if any(value is None for value in self.contains.values()):
            raise TypeError("a list holds a value: contains takes no None")
        if self.search and has_control_characters(self.search[1]):
            raise InvalidData("a search text must not contain control characters")
        if isinstance(self.text, str):
            raise TypeError("text takes a tuple of words, not one str")
        if not all(is_word(word) for word in self.text):
            raise InvalidData("a full-text search takes words only (letters and digits)")

    @property
    def ranked(self) -> bool:
        """Whether the list comes best match first (``text`` without ``sort``)."""
        return bool(self.text) and not self.sort

    @property
    def order(self) -> tuple[tuple[str, int], ...]:
        """The whole sort, the id tie-breaker included."""
        if any(path == "id" for path, _ in self.sort):
            return self.sort
        last = self.sort[-1][1] if self.sort else 1
        return (*self.sort, ("id", -1 if last < 0 else 1))


_SCALARS = (str, int, float, bool)


def text_index_for(spec: CollectionSpec, query: Query) -> TextIndex | None:
    """The index ``query``'s words are searched in, None when it asks for
    none; ValueError when it asks for words of a collection without one."""
    if not query.text:
        return None
    if spec.text is None:
        raise ValueError(f"{spec.name} has no full-text index to search by words")
    return spec.text


class Collection(abc.ABC):
    spec: CollectionSpec

    @abc.abstractmethod
    def insert(self, doc: dict[str, Any], events: Sequence[OutboxItem] = ()) -> dict[str, Any]:
        """Store a new document (``_rev`` 1); raises DuplicateKeyError.
        ``events`` may hold mails (``OutboxMail``): see ``Store.due_mails``,
        and counter changes (``CounterChange``): see ``Store.counters``."""

    @abc.abstractmethod
    def replace(
        self, doc: dict[str, Any], events: Sequence[OutboxItem] = ()
    ) -> dict[str, Any] | None:
        """Overwrite the document if its stored ``_rev`` still equals ``doc['_rev']``.

        Returns the stored document (new ``_rev``) or ``None`` when someone
        else wrote it first (the caller reloads and retries; no counter
        moved). The document's pending mails stay with it, and ``events``
        may add mails and move counters.
        """

    @abc.abstractmethod
    def get(self, doc_id: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    def find(self, query: Query, skip: int = 0, limit: int | None = None) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def count(self, query: Query) -> int: ...

    @abc.abstractmethod
    def delete(self, doc_id: str) -> bool:
        """Remove the document, and its mails (pending or failed) with it."""

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

    # -- the mail outbox: e-mails stored with the change that decided them -----
    # (``OutboxMail`` among the events of a collection that carries an outbox;
    # the in-memory and MongoDB adapters refuse them elsewhere, as events).
    # A new mail is due at once (0 attempts, ``next_attempt_at`` the write's
    # time, ``created_at`` too). Mail ids are unique: a write handing a mail
    # whose id is already stored (a consumer running its change again) goes
    # through and stores it once. A collection's ``delete`` takes the
    # document's mails with it. Instants are RFC 3339 in UTC (``mail_instant``);
    # errors are kept up to ``MAIL_ERROR_MAX_CHARS``. Settling a mail that is
    # no longer there (sent, cancelled, its document deleted) does nothing; a
    # failed mail is final: neither ``mail_retry`` nor ``mail_failed`` changes
    # it again, and it is kept without its body (see ``mail_failed``).

    @abc.abstractmethod
    def due_mails(self, now: str, limit: int = 50) -> list[PendingMail]:
        """Pending mails due at ``now`` (RFC 3339) or earlier, the longest due
        first. A look only: it claims nothing (the sender claims with
        ``claim_due_mails``); for tests and inspection."""

    @abc.abstractmethod
    def claim_due_mails(self, now: str, lease_until: str, limit: int = 50) -> list[PendingMail]:
        """Take up to ``limit`` pending mails due at ``now``, the longest due
        first: each is moved to ``next_attempt_at = lease_until`` in the same
        atomic step that finds it due, so no other claim returns it before
        the lease runs out (two senders never send one mail side by side).
        The claimer settles each one (``mail_sent``, ``mail_retry``,
        ``mail_failed``); one it never settles (its process died) is due
        again at ``lease_until`` and sent again, with the same Message-ID:
        at least once. The mails come back as stored after the claim (their
        ``next_attempt_at`` is the lease)."""

    @abc.abstractmethod
    def mail_sent(self, mail_id: str) -> None:
        """The server accepted it: removed from the outbox."""

    @abc.abstractmethod
    def mail_retry(self, mail_id: str, attempts: int, next_attempt_at: str, error: str) -> None:
        """Tried ``attempts`` times so far; due again at ``next_attempt_at``."""

    @abc.abstractmethod
    def mail_failed(self, mail_id: str, attempts: int, error: str) -> None:
        """Final: never sent (a 5xx answer, out of tries, too old). Kept for
        operators as a small record (id, recipient, attempts, error, when it
        failed), without the body, and outside whatever bounds the pending
        ones: a recipient whose mails keep failing never blocks the writes
        of its document. Never due again; counted by ``mail_counts``,
        deleted by ``cancel_mails`` and with its document."""

    @abc.abstractmethod
    def cancel_mails(self, recipient: str) -> int:
        """Delete every mail (pending or failed) for ``recipient``; how many."""

    @abc.abstractmethod
    def mail_counts(self) -> dict[str, int]:
        """``{MAIL_PENDING: n, MAIL_FAILED: m}``, for /metrics."""

    # -- counters: named integers moved with the documents -------------------
    # A ``CounterChange`` among the items of ``insert``/``replace`` moves its
    # counter in the same atomic write as the document: a refused write
    # (``DuplicateKeyError``, a stale ``_rev``, ``InvalidData``) moves none.
    # Several changes of one name in one write add up. Any collection may
    # carry them. A counter never moved reads 0; counters are never removed.

    @abc.abstractmethod
    def counters(self, names: Iterable[str]) -> dict[str, int]:
        """The value of each distinct counter asked for (0 for one never
        moved). Exact: it reflects every write that returned (each write
        that moved a counter, and each ``adjust_counters``/``set_counters``).
        A write still running may show in part on MongoDB, where each
        counter is a document of its own (see ``mongo``)."""

    @abc.abstractmethod
    def adjust_counters(self, changes: Sequence[CounterChange]) -> None:
        """Move counters with no document, all in one write (fixtures,
        repairs): once it returns every change counts, and none is lost or
        counted twice when it is cut short."""

    @abc.abstractmethod
    def set_counters(self, values: Mapping[str, int]) -> None:
        """Set counters to ``values``, all together (a recount). A write
        moving one of them meanwhile may be overwritten by it: recount on a
        quiet system."""

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

    def mail_address(self) -> str | bytes | None:
        """Where the mail sender can listen to be woken when mails are
        stored (see ``doorbell``), or None: it only polls."""
        return None
