"""In-memory adapter: the storage port held in this process's memory.

What it is for: the services test tier (``tests/services``) and fast unit
tests, which exercise use cases and repositories without a database file, a
server or a broker. It is not a production adapter: the data lives in one
process and is lost when it exits. It passes the same contract suite as the
SQLite and MongoDB adapters (``tests/contract``).

``MemoryStore()`` (or ``open_store("memory://")``) is a private, empty
database. ``open_store("memory://name")`` opens the process-wide database
called ``name``: every store opened on the same name shares its documents and
its outbox, as two processes share one SQLite file or MongoDB database.
``discard(name)`` forgets such a database.

Behaviour matches the other adapters where they agree, and the stricter of
the two where they differ:

- documents go in and out as JSON (a value SQLite could not store is refused
  with the same ``TypeError``) and are copied both ways, so a caller never
  holds the stored state;
- ``equals`` with ``None`` matches null or missing; values compare by JSON
  type (``True`` is not ``1``); ``less_than``/``at_least`` only compare
  numbers with numbers and strings with strings; nothing matches inside an
  array;
- ``search`` is a case-insensitive substring over string values, folded with
  Python's ``str.lower`` (what the SQLite adapter registers as
  ``unicode_lower``), with the text taken literally;
- ``text`` matches whole words of the collection's text index, folded
  as SQLite's FTS5 tokenizer folds them (case and accents,
  ``common.storage.text.fold``), every word required; best matches first
  by the count of occurrences weighted by path (``text.score``);
- sorting follows MongoDB's type order (null, numbers, strings, objects,
  arrays, booleans), the id always the last tie-breaker (``Query.order``);
- like the MongoDB adapter, the store relays only the collections it was
  told carry an outbox (``outbox=``), and an event written into any other
  collection is refused with ``StorageError`` instead of never being relayed;
  so is a mail, and the mail outbox (``due_mails``, ``cancel_mails``...) sees
  the mails of those collections only; a failed mail is kept without its
  body, as the other adapters keep it;
- counters are a dict of the database, moved under its lock in the same
  step as the document; any collection may move them, as in the other
  adapters.

Thread-safe: one lock per database guards every read and write, so a write
and its events are one atomic step.
"""
from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from .base import (
    MAIL_FAILED,
    MAIL_PENDING,
    Collection,
    CollectionSpec,
    CounterChange,
    DuplicateKeyError,
    Index,
    OutboxItem,
    OutboxMail,
    OutboxMessage,
    PendingMail,
    Query,
    StorageError,
    Store,
    counter_names,
    counter_values,
    mail_error,
    mail_instant,
    merge_counters,
    split_counters,
    split_outbox,
    text_index_for,
)
from .text import score

_SAFE_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_MISSING = object()
_SCORE = "\x00relevance"  # where a matching view carries its relevance: no document path can name it


def _check_path(path: str) -> str:
    if path != "id" and not _SAFE_PATH.match(path):
        raise ValueError(f"invalid document path {path!r}")
    return path


def _lookup(doc: dict[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _kind(value: Any) -> int:
    """MongoDB's order of types: null, numbers, strings, objects, arrays, booleans."""
    if value is None or value is _MISSING:
        return 0
    if isinstance(value, bool):
        return 5
    if isinstance(value, (int, float)):
        return 1
    if isinstance(value, str):
        return 2
    if isinstance(value, dict):
        return 3
    return 4


def _equal(stored: Any, wanted: Any) -> bool:
    if wanted is None:
        return stored is None or stored is _MISSING
    kind = _kind(wanted)
    return _kind(stored) == kind and stored == wanted


def _comparable(stored: Any, bound: Any) -> bool:
    kind = _kind(bound)
    return kind in (1, 2, 5) and _kind(stored) == kind


def _sort_key(value: Any) -> tuple[int, Any]:
    kind = _kind(value)
    if kind == 0:
        return (0, 0)
    if kind in (3, 4):
        return (kind, json.dumps(value, sort_keys=True, ensure_ascii=False))
    return (kind, value)


def _dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def _unique_key(index: Index, doc_id: str, body: dict[str, Any]) -> tuple[str, ...] | None:
    """The values ``index`` constrains in a document, or None when one of them
    is not a string (erased accounts with ``email`` None never collide)."""
    view = {**body, "id": doc_id}
    values = tuple(_lookup(view, f) for f in index.fields)
    return values if all(isinstance(v, str) for v in values) else None


@dataclass
class _Table:
    """A collection's rows (id -> (revision, body as JSON, body parsed)) and,
    per unique index, which document holds each key."""

    rows: dict[str, tuple[int, str, dict[str, Any]]] = field(default_factory=dict)
    unique: dict[str, tuple[Index, dict[tuple[str, ...], str]]] = field(default_factory=dict)

    def add_index(self, index: Index) -> None:
        if index.name in self.unique:
            return
        holders: dict[tuple[str, ...], str] = {}
        for doc_id, (_, _, body) in self.rows.items():
            key = _unique_key(index, doc_id, body)
            if key is not None:
                holders.setdefault(key, doc_id)
        self.unique[index.name] = (index, holders)

    def check_unique(self, doc_id: str, body: dict[str, Any]) -> None:
        for index, holders in self.unique.values():
            key = _unique_key(index, doc_id, body)
            if key is not None and holders.get(key, doc_id) != doc_id:
                raise DuplicateKeyError(index.fields)

    def put(self, doc_id: str, row: tuple[int, str, dict[str, Any]]) -> None:
        self.drop(doc_id)
        self.rows[doc_id] = row
        for index, holders in self.unique.values():
            key = _unique_key(index, doc_id, row[2])
            if key is not None:
                holders[key] = doc_id

    def drop(self, doc_id: str) -> bool:
        row = self.rows.pop(doc_id, None)
        if row is None:
            return False
        for index, holders in self.unique.values():
            key = _unique_key(index, doc_id, row[2])
            if key is not None and holders.get(key) == doc_id:
                del holders[key]
        return True


@dataclass
class _Mail:
    """A stored mail: where it belongs, and how far the sender got with it."""

    collection: str
    doc_id: str
    seq: int
    mail: OutboxMail
    next_attempt_at: str
    created_at: str
    attempts: int = 0
    state: str = MAIL_PENDING
    last_error: str | None = None
    failed_at: str | None = None

    def pending(self) -> PendingMail:
        m = self.mail
        return PendingMail(m.id, m.recipient, m.body, self.attempts, self.next_attempt_at, self.created_at)


class _Database:
    """What stores opened on one name share: the tables, the outboxes, the
    counters, the lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tables: dict[str, _Table] = {}
        # event id -> (collection name, message), in the order they were written
        self.outbox: dict[str, tuple[str, OutboxMessage]] = {}
        # mail id -> the stored mail, in the order they were written
        self.mails: dict[str, _Mail] = {}
        self.mail_seq = itertools.count(1)
        self.counters: dict[str, int] = {}

    def table(self, spec: CollectionSpec) -> _Table:
        with self.lock:
            table = self.tables.setdefault(spec.name, _Table())
            for index in spec.indexes:
                if index.unique:
                    table.add_index(index)
            return table


_registry: dict[str, _Database] = {}
_registry_lock = threading.Lock()
_anonymous = itertools.count(1)


def _named(name: str) -> _Database:
    with _registry_lock:
        database = _registry.get(name)
        if database is None:
            database = _registry[name] = _Database()
        return database


def discard(name: str) -> None:
    """Forget the process-wide database ``name`` (stores still open on it keep
    their data; the next open of the name starts empty)."""
    with _registry_lock:
        _registry.pop(name, None)


class MemoryStore(Store):
    """A store in this process's memory: private when ``name`` is None, else
    the process-wide database of that name (see ``discard``)."""

    def __init__(self, name: str | None = None, outbox: Iterable[CollectionSpec] = ()):
        self.name = name if name else f"<private {next(_anonymous)}>"
        self._db = _named(name) if name else _Database()
        self._collections: dict[str, MemoryCollection] = {}
        specs = tuple(outbox)
        self._outbox_names = frozenset(spec.name for spec in specs)
        for spec in specs:
            self.collection(spec)

    def collection(self, spec: CollectionSpec) -> "MemoryCollection":
        existing = self._collections.get(spec.name)
        if existing is None:
            existing = self._collections[spec.name] = MemoryCollection(self, spec)
        return existing

    def _check_outbox(
        self, collection: str, items: Sequence[OutboxItem]
    ) -> tuple[list[OutboxMessage], list[OutboxMail], list[CounterChange]]:
        """The events, mails and counter changes of a write; refused when the
        relay or the sender would never see the events or mails: their
        collection was not declared to carry an outbox."""
        items, changes = split_counters(items)
        events, mails = split_outbox(items)
        if (events or mails) and collection not in self._outbox_names:
            raise StorageError(
                f"memory: {'events' if events else 'mails'} written into {collection!r}, which this store was "
                "not told carries an outbox (open_store(url, outbox=...)); they would never be sent"
            )
        return events, mails, changes

    def _move_counters(self, changes: Sequence[CounterChange]) -> None:
        """Called under the database lock."""
        for change in changes:
            self._db.counters[change.name] = self._db.counters.get(change.name, 0) + change.delta

    # -- counters ------------------------------------------------------------
    def counters(self, names: Iterable[str]) -> dict[str, int]:
        names = counter_names(names)
        with self._db.lock:
            return {name: self._db.counters.get(name, 0) for name in names}

    def adjust_counters(self, changes: Sequence[CounterChange]) -> None:
        changes = merge_counters(changes)
        with self._db.lock:
            self._move_counters(changes)

    def set_counters(self, values: Mapping[str, int]) -> None:
        values = counter_values(values)
        with self._db.lock:
            self._db.counters.update(values)

    def _check_event_ids(self, events: Sequence[OutboxMessage]) -> None:
        """Refuse an event whose id is already queued, as the SQLite outbox's
        unique id does (called under the database lock)."""
        ids = [event.id for event in events]
        if len(set(ids)) != len(ids) or any(i in self._db.outbox for i in ids):
            raise DuplicateKeyError(("id",))

    def _add_events(self, collection: str, events: Sequence[OutboxMessage]) -> None:
        for event in events:
            self._db.outbox[event.id] = (collection, event)

    def _add_mails(self, collection: str, doc_id: str, mails: Sequence[OutboxMail]) -> None:
        """Called under the database lock; a mail id already stored is kept as it is."""
        now = mail_instant()
        for mail in mails:
            if mail.id not in self._db.mails:
                self._db.mails[mail.id] = _Mail(collection, doc_id, next(self._db.mail_seq), mail, now, now)

    def _drop_mails(self, collection: str, doc_id: str) -> None:
        for mail_id in [i for i, m in self._db.mails.items() if m.collection == collection and m.doc_id == doc_id]:
            del self._db.mails[mail_id]

    def _mail(self, mail_id: str) -> _Mail | None:
        """The stored mail ``mail_id`` of a declared collection (under the lock)."""
        stored = self._db.mails.get(mail_id)
        return stored if stored is not None and stored.collection in self._outbox_names else None

    def _due(self, now: str, limit: int) -> list[_Mail]:
        """The stored mails due at ``now``, longest due first (under the lock)."""
        due = [m for m in self._db.mails.values() if m.collection in self._outbox_names
               and m.state == MAIL_PENDING and m.next_attempt_at <= now]
        due.sort(key=lambda m: (m.next_attempt_at, m.seq))
        return due[:max(limit, 0)]

    def due_mails(self, now: str, limit: int = 50) -> list[PendingMail]:
        now = mail_instant(now)
        with self._db.lock:
            return [m.pending() for m in self._due(now, limit)]

    def claim_due_mails(self, now: str, lease_until: str, limit: int = 50) -> list[PendingMail]:
        now, lease_until = mail_instant(now), mail_instant(lease_until)
        with self._db.lock:
            claimed = self._due(now, limit)
            for stored in claimed:
                stored.next_attempt_at = lease_until
            return [m.pending() for m in claimed]

    def mail_sent(self, mail_id: str) -> None:
        with self._db.lock:
            if self._mail(mail_id) is not None:
                del self._db.mails[mail_id]

    def mail_retry(self, mail_id: str, attempts: int, next_attempt_at: str, error: str) -> None:
        next_attempt_at = mail_instant(next_attempt_at)
        with self._db.lock:
            stored = self._mail(mail_id)
            if stored is not None and stored.state == MAIL_PENDING:
                stored.attempts, stored.next_attempt_at = attempts, next_attempt_at
                stored.last_error = mail_error(error)

    def mail_failed(self, mail_id: str, attempts: int, error: str) -> None:
        with self._db.lock:
            stored = self._mail(mail_id)
            if stored is not None and stored.state == MAIL_PENDING:
                stored.state, stored.attempts, stored.last_error = MAIL_FAILED, attempts, mail_error(error)
                stored.failed_at = mail_instant()
                stored.mail = OutboxMail(stored.mail.id, stored.mail.recipient, "")

    def cancel_mails(self, recipient: str) -> int:
        with self._db.lock:
            ids = [i for i, m in self._db.mails.items()
                   if m.collection in self._outbox_names and m.mail.recipient == recipient]
            for mail_id in ids:
                del self._db.mails[mail_id]
            return len(ids)

    def mail_counts(self) -> dict[str, int]:
        counts = {MAIL_PENDING: 0, MAIL_FAILED: 0}
        with self._db.lock:
            for stored in self._db.mails.values():
                if stored.collection in self._outbox_names:
                    counts[stored.state] += 1
        return counts

    def pending_events(self, limit: int = 100) -> list[OutboxMessage]:
        with self._db.lock:
            found = [m for name, m in self._db.outbox.values() if name in self._outbox_names]
        return found[:limit]

    def mark_published(self, event_ids: Iterable[str]) -> None:
        with self._db.lock:
            for event_id in event_ids:
                entry = self._db.outbox.get(event_id)
                if entry is not None and entry[0] in self._outbox_names:
                    del self._db.outbox[event_id]

    def ping(self) -> None:
        """Always answers: memory is never unreachable."""

    def close(self) -> None:
        """Nothing to release; the data stays until the process exits (or
        ``discard`` for a named database)."""


class MemoryCollection(Collection):
    def __init__(self, store: MemoryStore, spec: CollectionSpec):
        if not _SAFE_PATH.match(spec.name):
            raise ValueError(f"invalid collection name {spec.name!r}")
        for index in spec.indexes:
            for path in index.fields:
                _check_path(path)
        self.store = store
        self.spec = spec
        self._db = store._db
        self._table = self._db.table(spec)

    # -- helpers -----------------------------------------------------------
    @staticmethod
    def _body(doc: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        text = _dumps({k: v for k, v in doc.items() if k not in ("id", "_rev")})
        return text, json.loads(text)

    @staticmethod
    def _out(doc_id: str, row: tuple[int, str, dict[str, Any]]) -> dict[str, Any]:
        doc = json.loads(row[1])
        doc["id"] = doc_id
        doc["_rev"] = row[0]
        return doc

    @staticmethod
    def _view(doc_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """The stored document as queries see it (never handed out)."""
        return {**body, "id": doc_id}

    # -- Collection --------------------------------------------------------
    def insert(self, doc: dict[str, Any], events: Sequence[OutboxItem] = ()) -> dict[str, Any]:
        doc_id = doc["id"]
        text, body = self._body(doc)
        events, mails, changes = self.store._check_outbox(self.spec.name, events)
        with self._db.lock:
            if doc_id in self._table.rows:
                raise DuplicateKeyError(("id",))
            self._table.check_unique(doc_id, body)
            self.store._check_event_ids(events)
            self._table.put(doc_id, (1, text, body))
            self.store._add_events(self.spec.name, events)
            self.store._add_mails(self.spec.name, doc_id, mails)
            self.store._move_counters(changes)
        return {**doc, "_rev": 1}

    def replace(self, doc: dict[str, Any], events: Sequence[OutboxItem] = ()) -> dict[str, Any] | None:
        doc_id = doc["id"]
        rev = doc.get("_rev")
        text, body = self._body(doc)
        events, mails, changes = self.store._check_outbox(self.spec.name, events)
        with self._db.lock:
            row = self._table.rows.get(doc_id)
            if row is None or row[0] != rev:
                return None
            self._table.check_unique(doc_id, body)
            self.store._check_event_ids(events)
            self._table.put(doc_id, (rev + 1, text, body))
            self.store._add_events(self.spec.name, events)
            self.store._add_mails(self.spec.name, doc_id, mails)
            self.store._move_counters(changes)
        return {**doc, "_rev": rev + 1}

    def get(self, doc_id: str) -> dict[str, Any] | None:
        with self._db.lock:
            row = self._table.rows.get(doc_id)
            return self._out(doc_id, row) if row else None

    @staticmethod
    def _matches(doc: dict[str, Any], query: Query) -> bool:
        for path, value in query.equals.items():
            if not _equal(_lookup(doc, path), value):
                return False
        for path, allowed in query.any_of.items():
            stored = _lookup(doc, path)
            if not any(_equal(stored, value) for value in allowed):
                return False
        for path, value in query.contains.items():
            stored = _lookup(doc, path)
            if value is None or not isinstance(stored, list) or not any(_equal(item, value) for item in stored):
                return False
        for path, bound in query.less_than.items():
            stored = _lookup(doc, path)
            if not (_comparable(stored, bound) and stored < bound):
                return False
        for path, bound in query.at_least.items():
            stored = _lookup(doc, path)
            if not (_comparable(stored, bound) and stored >= bound):
                return False
        if query.search:
            paths, text = query.search
            needle = text.lower()
            if not any(
                isinstance(value, str) and needle in value.lower()
                for value in (_lookup(doc, p) for p in paths)
            ):
                return False
        return True

    @staticmethod
    def _check_query(query: Query) -> None:
        for path in itertools.chain(query.equals, query.any_of, query.contains, query.less_than, query.at_least,
                                    (p for p, _ in query.sort), query.search[0] if query.search else ()):
            _check_path(path)

    def _select(self, query: Query) -> list[tuple[str, tuple[int, str, dict[str, Any]], dict[str, Any]]]:
        """Matching (id, row, view) triples, under the lock; with ``text``,
        the view carries its relevance under ``_SCORE``."""
        self._check_query(query)
        index = text_index_for(self.spec, query)
        found = []
        for doc_id, row in self._table.rows.items():
            view = self._view(doc_id, row[2])
            if not self._matches(view, query):
                continue
            if query.text:
                relevance = score(row[2], index, query.text)
                if not relevance:
                    continue
                view = {**view, _SCORE: relevance}
            found.append((doc_id, row, view))
        return found

    def find(self, query: Query, skip: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        with self._db.lock:
            found = self._select(query)
            if query.ranked:
                found.sort(key=lambda item: (-item[2][_SCORE], item[0]))
            for path, direction in () if query.ranked else reversed(query.order):
                found.sort(key=lambda item: _sort_key(_lookup(item[2], path)), reverse=direction < 0)
            end = None if limit is None else skip + max(limit, 0)
            return [self._out(doc_id, row) for doc_id, row, _ in found[max(skip, 0):end]]

    def count(self, query: Query) -> int:
        with self._db.lock:
            return len(self._select(query))

    def delete(self, doc_id: str) -> bool:
        with self._db.lock:
            self.store._drop_mails(self.spec.name, doc_id)
            return self._table.drop(doc_id)
