"""MongoDB adapter (pymongo 4), what production runs.

Durability. Unless the URL says otherwise (``w=``, ``journal=``,
``readConcernLevel=``, ``retryWrites=``, ``retryReads=`` and the timeouts are
honoured as given), a write is acknowledged only once a majority of the
replica set has it in its journal (``w=majority``, ``journal=true``), reads
see only majority-committed data (``readConcernLevel=majority``: the relay
never publishes the event of a write a failover could still roll back), and
a write or read cut by a failover is retried once by the driver
(``retryWrites``/``retryReads``). On a standalone server ``majority`` is the
server itself: see docs/deploy.md for what that gives up.

Pending events live inside the document they describe (``_outbox``), so the
change and its events are one single-document write: atomic on a standalone
server, no replica set or transaction needed. The relay finds documents with
a non-empty ``_outbox`` through an index and removes what the broker
confirmed. A document's backlog is bounded (``outbox_max_bytes``, counted in
``_outbox_bytes``): during a long broker outage a document whose events
reach the bound takes no further write with events (``StorageUnavailable``:
503, and a consumer holds its message) until the relay has published them,
so pending events never push a document towards MongoDB's 16 MiB limit. The
bound was chosen over an outbox collection written in a transaction because
it keeps one code path, and one single-document write per change, on
standalone servers and replica sets alike; what it costs is that one
document, not the service, refuses writes while its backlog is full.

``replace`` overwrites the document (keys the new version lacks are gone)
with one update pipeline that keeps, and extends, its pending events: the
new fields go in as literals, so no value is ever read as an operator or a
field path.

Errors of the driver and of the server are mapped to the port's: see
``translate``.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from bson.errors import BSONError
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.read_concern import ReadConcern
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError as MongoDuplicateKeyError,
    OperationFailure,
    PyMongoError,
    WriteConcernError,
)
from pymongo.uri_parser import parse_uri

from .base import (
    Collection,
    CollectionSpec,
    DuplicateKeyError,
    InvalidData,
    OutboxMessage,
    Query,
    StorageError,
    StorageUnavailable,
    Store,
)

log = logging.getLogger(__name__)

OUTBOX_FIELD = "_outbox"
OUTBOX_BYTES = "_outbox_bytes"
OUTBOX_INDEX = "ix_outbox"
# What one document may hold in events waiting for the broker. A document
# (with its pending events) must stay under MongoDB's 16 MiB: this leaves
# 12 MiB to the document itself.
OUTBOX_MAX_BYTES = 4 * 1024 * 1024
# Where ``ping`` writes to prove the database takes writes.
HEALTH_COLLECTION = "_health"

# Defaults that apply only when the URL does not set the option itself
# (pymongo lets keyword arguments override the URL, so they are left out then).
DURABILITY = {"w": "majority", "journal": True, "readConcernLevel": "majority",
              "retryWrites": True, "retryReads": True}

# Server error codes (src/mongo/base/error_codes.yml) of a database that
# cannot do it now but will: not primary, shutting down or interrupted,
# out of time, out of disk, write concern not satisfied, a cursor lost...,
# and an account the operator has to fix (unauthorized, authentication).
_UNAVAILABLE_CODES = frozenset({
    6, 7, 89, 9001, 202,                 # host unreachable or unknown, network timeouts, socket errors
    91, 11600, 11601, 11602, 279, 355,   # shutting down; interrupted (shutdown, killed, repl state change)
    189, 10107, 13435, 13436, 10058,     # primary stepped down, not (writable) primary
    50, 262, 290,                        # time limits exceeded
    64, 79, 100,                         # write concern timed out, unknown or unsatisfiable now
    24, 46, 112,                         # lock timeout or busy, write conflict
    133, 134,                            # no member for the read preference, majority reads not ready
    43, 175, 237,                        # cursor lost, query plan or cursor killed
    14031,                               # out of disk space
    13, 18,                              # unauthorized, authentication failed
    365, 402, 433, 449, 462,             # temporarily unavailable, overloaded
})
# Codes of a request that no retry makes storable: too large, refused by a
# validator, field names MongoDB cannot take, a pattern with a NUL byte.
_TOO_LARGE_CODES = frozenset({10334, 17419, 17420})
_INVALID_CODES = _TOO_LARGE_CODES | {121, 52, 56, 57, 51091}
_TRANSIENT_LABELS = ("RetryableWriteError", "TransientTransactionError", "SystemOverloadedError")
_DRIVER_ERRORS = (PyMongoError, BSONError, OverflowError)
# A top-level field name an update reads as a name: not empty, no leading $, no dot, no NUL.
_SAFE_KEY = re.compile(r"^[^$.\x00][^.\x00]*$")


def translate(exc: BaseException) -> StorageError:
    """The port's error for a driver or server error.

    - ``StorageUnavailable`` (503; a consumer holds its message and retries):
      no server to talk to (``AutoReconnect``, ``NetworkTimeout``,
      ``ServerSelectionTimeoutError``, "not primary" ``NotPrimaryError``),
      ``WriteConcernError`` (the write may be on the primary only: the caller
      retries, idempotently), and the codes above or a transient error label.
    - ``InvalidData`` (422; never retried): ``DocumentTooLarge`` and
      ``InvalidDocument`` raised by the driver before sending, integers BSON
      cannot hold, and the server's refusals of a document as such.
    - ``StorageError`` for anything else: a defect, answered 500 and logged.
    """
    if isinstance(exc, (BSONError, OverflowError)):  # DocumentTooLarge is an InvalidDocument
        return InvalidData(f"mongodb: the document cannot be stored: {exc}")
    if isinstance(exc, ConnectionFailure):
        return StorageUnavailable(f"mongodb: {exc}")
    if isinstance(exc, WriteConcernError):
        return StorageUnavailable(f"mongodb: the write concern was not satisfied (the write may or may not "
                                  f"have been applied): {exc}")
    if isinstance(exc, BulkWriteError):
        details = exc.details or {}
        if details.get("writeConcernErrors"):
            return StorageUnavailable(f"mongodb: the write concern was not satisfied: {exc}")
        codes = {error.get("code") for error in details.get("writeErrors", [])}
        if codes & _UNAVAILABLE_CODES:
            return StorageUnavailable(f"mongodb: {exc}")
        return StorageError(f"mongodb: {exc}")
    if isinstance(exc, PyMongoError):
        if any(exc.has_error_label(label) for label in _TRANSIENT_LABELS):
            return StorageUnavailable(f"mongodb: {exc}")
        code = getattr(exc, "code", None)
        if code in _UNAVAILABLE_CODES:
            return StorageUnavailable(f"mongodb: {exc}")
        if code in _INVALID_CODES:
            return InvalidData(f"mongodb: {exc}")
    return StorageError(f"mongodb: {exc}")


def client_options(url: str, timeout_ms: int = 3000) -> dict[str, Any]:
    """The MongoClient keyword arguments for ``url``: the durability defaults
    and timeouts, each only where the URL does not set that option."""
    given = {name.lower() for name in parse_uri(url).get("options", {})}
    defaults: dict[str, Any] = {
        **DURABILITY,
        "serverSelectionTimeoutMS": timeout_ms,
        "connectTimeoutMS": timeout_ms,
        "socketTimeoutMS": max(timeout_ms * 3, 10000),
        "uuidRepresentation": "standard",
    }
    return {name: value for name, value in defaults.items() if name.lower() not in given}


def _mongo_path(path: str) -> str:
    return "_id" if path == "id" else path


def _lookup(doc: dict[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _event_size(message: dict[str, Any]) -> int:
    """The bytes an event counts for in its document's backlog (its strings,
    UTF-8): the same figure when it is written and when it is removed."""
    return sum(len(str(message.get(key) or "").encode("utf-8"))
               for key in ("id", "routing_key", "body", "correlation_id"))


def _index_keys(current: dict[str, Any]) -> list[tuple[str, int]] | None:
    try:
        return [(name, int(direction)) for name, direction in current["key"].items()]
    except (TypeError, ValueError, KeyError):
        return None


class MongoStore(Store):
    def __init__(self, url: str, client: MongoClient | None = None, timeout_ms: int = 3000,
                 outbox: Iterable[CollectionSpec] = (), outbox_max_bytes: int = OUTBOX_MAX_BYTES):
        database = parse_uri(url).get("database") or "incidencias"
        self.client = client or MongoClient(url, tz_aware=True, **client_options(url, timeout_ms))
        self.db = self.client[database]
        self._collections: dict[str, MongoCollection] = {}
        self._outbox_specs = tuple(outbox)
        self.outbox_max_bytes = outbox_max_bytes

    def _outbox_collections(self) -> list["MongoCollection"]:
        """The collections whose documents may hold pending events, as the
        service declared them (not merely the ones this process opened)."""
        return [self.collection(spec) for spec in self._outbox_specs]

    def collection(self, spec: CollectionSpec) -> "MongoCollection":
        existing = self._collections.get(spec.name)
        if existing is None:
            existing = MongoCollection(self, spec)
            try:
                existing.ensure_indexes()
            except StorageUnavailable:
                # The server is unreachable right now: the first operation
                # creates the indexes once it answers, so a process that starts
                # during an outage still starts (and answers 503).
                pass
            self._collections[spec.name] = existing
        return existing

    def pending_events(self, limit: int = 100) -> list[OutboxMessage]:
        found: list[OutboxMessage] = []
        try:
            for coll in self._outbox_collections():
                cursor = coll.raw.find(
                    {f"{OUTBOX_FIELD}.id": {"$exists": True}}, {OUTBOX_FIELD: 1}
                ).limit(limit)
                for doc in cursor:
                    found.extend(OutboxMessage.from_dict(m) for m in doc.get(OUTBOX_FIELD, []))
                    if len(found) >= limit:
                        return found
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc
        return found

    def mark_published(self, event_ids: Iterable[str]) -> None:
        ids = set(event_ids)
        if not ids:
            return
        try:
            for coll in self._outbox_collections():
                coll.release(ids)
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    def ping(self) -> None:
        """A write with the store's write concern: it fails unless the
        primary answers, a majority takes it, the disk has room and the
        account may write (a ``ping`` command proves none of that)."""
        try:
            self.db[HEALTH_COLLECTION].update_one(
                {"_id": "ping"}, {"$set": {"at": datetime.now(timezone.utc)}}, upsert=True)
        except _DRIVER_ERRORS as exc:
            translated = translate(exc)
            raise (translated if isinstance(translated, StorageUnavailable)
                   else StorageUnavailable(str(translated))) from exc

    def close(self) -> None:
        self.client.close()


class MongoCollection(Collection):
    def __init__(self, store: MongoStore, spec: CollectionSpec):
        self.store = store
        self.spec = spec
        self.raw = store.db[spec.name]
        self._indexes_ready = False

    def _ensure(self) -> None:
        if not self._indexes_ready:
            self.ensure_indexes()

    # -- indexes -----------------------------------------------------------
    def declared_indexes(self) -> dict[str, tuple[list[tuple[str, int]], dict[str, Any]]]:
        """Index name -> (keys, options), as this collection declares them."""
        declared = {OUTBOX_INDEX: ([(f"{OUTBOX_FIELD}.id", ASCENDING)], {"sparse": True})}
        for index in self.spec.indexes:
            keys = [(_mongo_path(path), direction) for path, direction in index.keys]
            options: dict[str, Any] = {}
            if index.unique:
                options = {"unique": True,
                           "partialFilterExpression": {_mongo_path(f): {"$type": "string"} for f in index.fields}}
            declared[index.name] = (keys, options)
        return declared

    @staticmethod
    def _same(current: dict[str, Any] | None, keys: list[tuple[str, int]], options: dict[str, Any]) -> bool:
        if current is None or _index_keys(current) != keys:
            return False
        return (bool(current.get("unique")) == bool(options.get("unique"))
                and bool(current.get("sparse")) == bool(options.get("sparse"))
                and current.get("partialFilterExpression") == options.get("partialFilterExpression"))

    def ensure_indexes(self) -> None:
        """The declared indexes, as declared. One whose declaration changed
        since it was built (other keys, directions, options) is dropped and
        built again under its name; one that cannot be built (a unique index
        the stored documents violate) is reported in one line and the
        collection is used without it, as it is when an index is no longer
        declared: a start-up never fails for good over an index. Only an
        unreachable server raises (``StorageUnavailable``: the next operation
        tries again)."""
        declared = self.declared_indexes()
        try:
            present = {ix["name"]: ix for ix in self.raw.list_indexes()}
            for name, (keys, options) in declared.items():
                if not self._same(present.get(name), keys, options):
                    self._build(name, keys, options, present.get(name))
        except _DRIVER_ERRORS as exc:
            translated = translate(exc)
            if isinstance(translated, StorageUnavailable):
                raise translated from exc
            log.error("mongodb: the indexes of %s could not be checked (%s); the collection is used as it is",
                      self.spec.name, exc)
            self._indexes_ready = True
            return
        undeclared = sorted(name for name in present if name.startswith("ix_") and name not in declared)
        if undeclared:
            log.warning("mongodb: indexes of %s no longer declared: %s (drop them once no older version runs)",
                        self.spec.name, ", ".join(undeclared))
        self._indexes_ready = True

    def _violations(self, fields: tuple[str, ...]) -> bool:
        """Whether two stored documents share the values a unique index on
        ``fields`` would constrain (all strings, as its partial filter says)."""
        group = {f"k{n}": f"${_mongo_path(f)}" for n, f in enumerate(fields)}
        found = self.raw.aggregate([
            {"$match": {_mongo_path(f): {"$type": "string"} for f in fields}},
            {"$group": {"_id": group, "n": {"$sum": 1}}},
            {"$match": {"n": {"$gt": 1}}},
            {"$limit": 1},
        ])
        return any(True for _ in found)

    def _build(self, name: str, keys: list[tuple[str, int]], options: dict[str, Any],
               current: dict[str, Any] | None) -> None:
        unique_fields = next((i.fields for i in self.spec.indexes if i.name == name and i.unique), None)
        if current is not None and unique_fields and self._violations(unique_fields):
            log.error("mongodb: index %s of %s cannot be built as declared (unique, and stored documents share "
                      "values of %s); it stays as it was until they are fixed", name, self.spec.name,
                      ", ".join(unique_fields))
            return
        try:
            if current is not None:
                try:
                    self.raw.drop_index(name)
                except OperationFailure as exc:
                    if exc.code != 27:  # IndexNotFound: another process dropped it first
                        raise
            self.raw.create_index(keys, name=name, **options)
        except OperationFailure as exc:
            translated = translate(exc)
            if isinstance(translated, StorageUnavailable):
                raise translated from exc
            again = {ix["name"]: ix for ix in self.raw.list_indexes()}.get(name)
            if self._same(again, keys, options):
                return  # another process of the service built it meanwhile
            log.error("mongodb: index %s of %s cannot be built as declared (%s); the collection is used "
                      "without it until that is fixed", name, self.spec.name, exc)
            return
        if current is not None:
            log.warning("mongodb: index %s of %s changed; rebuilt it (was %s, now %s)",
                        name, self.spec.name, dict(current.get("key", {})), dict(keys))

    # -- documents ---------------------------------------------------------
    def _duplicate(self, exc: MongoDuplicateKeyError, doc: dict[str, Any]) -> DuplicateKeyError:
        """Name the index that refused ``doc``: from the server's ``keyPattern``
        when it says, else by looking for the document that holds the value."""
        pattern = set((exc.details or {}).get("keyPattern") or {})
        unique = [i for i in self.spec.indexes if i.unique]
        for index in unique:
            if pattern == {_mongo_path(f) for f in index.fields}:
                return DuplicateKeyError(index.fields)
        if pattern == {"_id"}:
            return DuplicateKeyError(("id",))
        for index in unique:
            values = {_mongo_path(f): _lookup(doc, f) for f in index.fields}
            if all(isinstance(v, str) for v in values.values()) and self.raw.find_one(
                {**{k: {"$eq": v} for k, v in values.items()}, "_id": {"$ne": doc["id"]}}, {"_id": 1}
            ):
                return DuplicateKeyError(index.fields)
        return DuplicateKeyError(("id",))

    @staticmethod
    def _out(doc: dict[str, Any] | None) -> dict[str, Any] | None:
        if doc is None:
            return None
        doc.pop(OUTBOX_FIELD, None)
        doc.pop(OUTBOX_BYTES, None)
        doc["id"] = doc.pop("_id")
        return doc

    @staticmethod
    def _fields(doc: dict[str, Any]) -> dict[str, Any]:
        """The document's own fields. ``replace`` sets each by name, where a
        dot or a leading ``$`` would mean a path or an operator: such names
        are refused."""
        fields = {k: v for k, v in doc.items() if k not in ("id", "_rev", "_id", OUTBOX_FIELD, OUTBOX_BYTES)}
        bad = [k for k in fields if not isinstance(k, str) or not _SAFE_KEY.match(k)]
        if bad:
            raise InvalidData(f"mongodb: field names must not be empty, start with $ or hold a dot: {bad[:5]!r}")
        return fields

    def _check_outbox(self, events: Sequence[OutboxMessage]) -> int:
        """Refuse events the relay would never read (this collection was not
        declared to carry an outbox, ``open_store(url, outbox=...)``) or that
        no backlog could take; their size otherwise."""
        if not events:
            return 0
        if self.spec.name not in {s.name for s in self.store._outbox_specs}:
            raise StorageError(f"mongodb: events written into {self.spec.name!r}, which this store was not told "
                               "carries an outbox; they would never be relayed")
        size = sum(_event_size(e.to_dict()) for e in events)
        if size > self.store.outbox_max_bytes:
            raise InvalidData(f"mongodb: the events of one write ({size} bytes) exceed what a document may hold "
                              f"pending ({self.store.outbox_max_bytes} bytes)")
        return size

    def _backlog_full(self, doc_id: str, rev: int, size: int) -> StorageUnavailable | None:
        """Why a write with events matched nothing: the error to raise when it
        was the document's full backlog, None when it was the revision."""
        current = self.raw.find_one({"_id": doc_id}, {"_rev": 1, OUTBOX_BYTES: 1})
        if current is None or current.get("_rev") != rev:
            return None
        return StorageUnavailable(
            f"mongodb: {current.get(OUTBOX_BYTES, 0)} bytes of events of {self.spec.name}/{doc_id} are waiting for "
            f"the broker; the document takes {size} more once they are published")

    def insert(self, doc: dict[str, Any], events: Sequence[OutboxMessage] = ()) -> dict[str, Any]:
        size = self._check_outbox(events)
        self._ensure()
        stored = {"_id": doc["id"], **self._fields(doc), "_rev": 1}
        if events:
            stored[OUTBOX_FIELD] = [e.to_dict() for e in events]
            stored[OUTBOX_BYTES] = size
        try:
            self.raw.insert_one(stored)
        except MongoDuplicateKeyError as exc:
            raise self._duplicate(exc, doc) from exc
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc
        return {**doc, "_rev": 1}

    def replace(self, doc: dict[str, Any], events: Sequence[OutboxMessage] = ()) -> dict[str, Any] | None:
        size = self._check_outbox(events)
        self._ensure()
        rev = doc.get("_rev")
        # Keep only the id and the pending events, then set every field of the
        # new version (as a literal) and the events added now.
        new: dict[str, Any] = {name: {"$literal": value} for name, value in self._fields(doc).items()}
        new["_rev"] = rev + 1
        match: dict[str, Any] = {"_id": doc["id"], "_rev": rev}
        if events:
            new[OUTBOX_FIELD] = {"$concatArrays": [{"$ifNull": [f"${OUTBOX_FIELD}", []]},
                                                   {"$literal": [e.to_dict() for e in events]}]}
            new[OUTBOX_BYTES] = {"$add": [{"$ifNull": [f"${OUTBOX_BYTES}", 0]}, size]}
            match["$or"] = [{OUTBOX_BYTES: {"$exists": False}},
                            {OUTBOX_BYTES: {"$lte": self.store.outbox_max_bytes - size}}]
        pipeline = [{"$project": {OUTBOX_FIELD: 1, OUTBOX_BYTES: 1}}, {"$set": new}]
        try:
            result = self.raw.update_one(match, pipeline)
            if result.matched_count != 1:
                full = self._backlog_full(doc["id"], rev, size) if events else None
                if full is not None:
                    raise full
                return None
        except MongoDuplicateKeyError as exc:
            raise self._duplicate(exc, doc) from exc
        except _DRIVER_ERRORS as exc:
            if isinstance(exc, OperationFailure) and exc.code in _TOO_LARGE_CODES:
                # Too large only with the events still pending in it: it fits once they are published.
                waiting = self.raw.find_one({"_id": doc["id"], OUTBOX_BYTES: {"$gt": 0}}, {OUTBOX_BYTES: 1})
                if waiting is not None:
                    raise StorageUnavailable(
                        f"mongodb: {self.spec.name}/{doc['id']} would exceed MongoDB's document size with the "
                        f"{waiting[OUTBOX_BYTES]} bytes of events it holds for the broker; retry once they are "
                        "published") from exc
            raise translate(exc) from exc
        return {**doc, "_rev": rev + 1}

    def release(self, event_ids: set[str]) -> None:
        """Remove the published ``event_ids`` from the documents that hold them,
        with their bytes from the backlog. One update per document; a document
        whose events are all published loses its outbox fields altogether.
        Each update names the events it removes, so relays running side by
        side (several worker processes) never count a removal twice."""
        for doc in self.raw.find({f"{OUTBOX_FIELD}.id": {"$in": list(event_ids)}}, {OUTBOX_FIELD: 1}):
            pending = doc.get(OUTBOX_FIELD, [])
            done = [m for m in pending if m.get("id") in event_ids]
            if not done:
                continue
            ids = [m["id"] for m in done]
            if len(done) == len(pending):
                emptied = self.raw.update_one(
                    {"_id": doc["_id"], OUTBOX_FIELD: {"$size": len(ids)}, f"{OUTBOX_FIELD}.id": {"$all": ids}},
                    {"$unset": {OUTBOX_FIELD: "", OUTBOX_BYTES: ""}})
                if emptied.matched_count:
                    continue
            pulled = self.raw.update_one(
                {"_id": doc["_id"], f"{OUTBOX_FIELD}.id": {"$all": ids}},
                {"$pull": {OUTBOX_FIELD: {"id": {"$in": ids}}},
                 "$inc": {OUTBOX_BYTES: -sum(_event_size(m) for m in done)}})
            if pulled.matched_count:
                continue
            for message in done:  # another relay took some of them meanwhile: one by one
                self.raw.update_one({"_id": doc["_id"], f"{OUTBOX_FIELD}.id": message["id"]},
                                    {"$pull": {OUTBOX_FIELD: {"id": message["id"]}},
                                     "$inc": {OUTBOX_BYTES: -_event_size(message)}})

    def get(self, doc_id: str) -> dict[str, Any] | None:
        self._ensure()
        try:
            return self._out(self.raw.find_one({"_id": doc_id}, {OUTBOX_FIELD: 0, OUTBOX_BYTES: 0}))
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    @staticmethod
    def _filter(query: Query) -> dict[str, Any]:
        conditions: list[dict[str, Any]] = []
        for path, value in query.equals.items():
            conditions.append({_mongo_path(path): {"$eq": value}})
        for path, values in query.any_of.items():
            conditions.append({_mongo_path(path): {"$in": list(values)}})
        for path, bound in query.less_than.items():
            conditions.append({_mongo_path(path): {"$lt": bound}})
        for path, bound in query.at_least.items():
            conditions.append({_mongo_path(path): {"$gte": bound}})
        if query.search:
            paths, text = query.search
            pattern = {"$regex": re.escape(text), "$options": "i"}
            conditions.append({"$or": [{_mongo_path(p): pattern} for p in paths]})
        if not conditions:
            return {}
        return conditions[0] if len(conditions) == 1 else {"$and": conditions}

    def _cursor(self, query: Query, skip: int = 0, limit: int | None = None, raw: Any = None):
        sort = [(_mongo_path(p), DESCENDING if d < 0 else ASCENDING) for p, d in query.order]
        raw = self.raw if raw is None else raw
        cursor = raw.find(self._filter(query), {OUTBOX_FIELD: 0, OUTBOX_BYTES: 0}).sort(sort).skip(skip)
        return cursor.limit(limit) if limit is not None else cursor

    def find(self, query: Query, skip: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        self._ensure()
        try:
            return [self._out(doc) for doc in self._cursor(query, skip, limit)]
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    def explain(self, query: Query, skip: int = 0, limit: int | None = None) -> dict[str, Any]:
        """The server's plan for ``find(query, skip, limit)`` (``explain``):
        what an operator, or a test, reads to see whether an index serves a
        list's filter and sort."""
        self._ensure()
        try:
            # The server's explain takes no read concern: asked without one.
            return self._cursor(query, skip, limit, self.raw.with_options(read_concern=ReadConcern())).explain()
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    def count(self, query: Query) -> int:
        self._ensure()
        try:
            return self.raw.count_documents(self._filter(query))
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    def delete(self, doc_id: str) -> bool:
        self._ensure()
        try:
            return self.raw.delete_one({"_id": doc_id}).deleted_count == 1
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc
