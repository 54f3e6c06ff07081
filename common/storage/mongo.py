"""MongoDB adapter (pymongo 4), what production runs.

Pending events live inside the document they describe (``_outbox``), so the
change and its events are one single-document write: atomic on a standalone
server, no replica set or transaction needed. The relay finds documents with
a non-empty ``_outbox`` through an index and ``$pull``s what the broker
confirmed.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.errors import (
    ConnectionFailure,
    DuplicateKeyError as MongoDuplicateKeyError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)
from pymongo.uri_parser import parse_uri

from .base import (
    Collection,
    CollectionSpec,
    DuplicateKeyError,
    OutboxMessage,
    Query,
    StorageError,
    StorageUnavailable,
    Store,
)

OUTBOX_FIELD = "_outbox"


def _translate(exc: PyMongoError) -> Exception:
    if isinstance(exc, (ConnectionFailure, ServerSelectionTimeoutError)):
        return StorageUnavailable(f"mongodb: {exc}")
    if isinstance(exc, OperationFailure) and exc.code in (10107, 13435, 11600, 91, 189):
        return StorageUnavailable(f"mongodb: {exc}")  # not primary / shutting down
    return StorageError(f"mongodb: {exc}")


def _mongo_path(path: str) -> str:
    return "_id" if path == "id" else path


def _lookup(doc: dict[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class MongoStore(Store):
    def __init__(self, url: str, client: MongoClient | None = None, timeout_ms: int = 3000,
                 outbox: Iterable[CollectionSpec] = ()):
        database = parse_uri(url).get("database") or "incidencias"
        self.client = client or MongoClient(
            url,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=max(timeout_ms * 3, 10000),
            tz_aware=True,
            uuidRepresentation="standard",
        )
        self.db = self.client[database]
        self._collections: dict[str, MongoCollection] = {}
        self._outbox_specs = tuple(outbox)

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
        except PyMongoError as exc:
            raise _translate(exc) from exc
        return found

    def mark_published(self, event_ids: Iterable[str]) -> None:
        ids = list(event_ids)
        if not ids:
            return
        try:
            for coll in self._outbox_collections():
                coll.raw.update_many(
                    {f"{OUTBOX_FIELD}.id": {"$in": ids}},
                    {"$pull": {OUTBOX_FIELD: {"id": {"$in": ids}}}},
                )
        except PyMongoError as exc:
            raise _translate(exc) from exc

    def ping(self) -> None:
        try:
            self.client.admin.command("ping")
        except PyMongoError as exc:
            raise StorageUnavailable(f"mongodb: {exc}") from exc

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

    def ensure_indexes(self) -> None:
        try:
            self.raw.create_index(f"{OUTBOX_FIELD}.id", sparse=True, name="ix_outbox")
            for index in self.spec.indexes:
                keys = [(_mongo_path(f), ASCENDING) for f in index.fields]
                options: dict[str, Any] = {"name": index.name}
                if index.unique:
                    options["unique"] = True
                    options["partialFilterExpression"] = {
                        _mongo_path(f): {"$type": "string"} for f in index.fields
                    }
                self.raw.create_index(keys, **options)
        except PyMongoError as exc:
            raise _translate(exc) from exc
        self._indexes_ready = True

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
        doc["id"] = doc.pop("_id")
        return doc

    @staticmethod
    def _fields(doc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if k not in ("id", "_rev", "_id", OUTBOX_FIELD)}

    def _check_outbox(self, events: Sequence[OutboxMessage]) -> None:
        """Refuse events the relay would never read: this collection was not
        declared to carry an outbox (``open_store(url, outbox=...)``)."""
        if events and self.spec.name not in {s.name for s in self.store._outbox_specs}:
            raise StorageError(f"mongodb: events written into {self.spec.name!r}, which this store was not told "
                               "carries an outbox; they would never be relayed")

    def insert(self, doc: dict[str, Any], events: Sequence[OutboxMessage] = ()) -> dict[str, Any]:
        self._check_outbox(events)
        self._ensure()
        stored = {"_id": doc["id"], **self._fields(doc), "_rev": 1}
        if events:
            stored[OUTBOX_FIELD] = [e.to_dict() for e in events]
        try:
            self.raw.insert_one(stored)
        except MongoDuplicateKeyError as exc:
            raise self._duplicate(exc, doc) from exc
        except PyMongoError as exc:
            raise _translate(exc) from exc
        return {**doc, "_rev": 1}

    def replace(self, doc: dict[str, Any], events: Sequence[OutboxMessage] = ()) -> dict[str, Any] | None:
        self._check_outbox(events)
        self._ensure()
        rev = doc.get("_rev")
        update: dict[str, Any] = {"$set": {**self._fields(doc), "_rev": rev + 1}}
        if events:
            update["$push"] = {OUTBOX_FIELD: {"$each": [e.to_dict() for e in events]}}
        try:
            result = self.raw.update_one({"_id": doc["id"], "_rev": rev}, update)
        except MongoDuplicateKeyError as exc:
            raise self._duplicate(exc, doc) from exc
        except PyMongoError as exc:
            raise _translate(exc) from exc
        if result.matched_count != 1:
            return None
        return {**doc, "_rev": rev + 1}

    def get(self, doc_id: str) -> dict[str, Any] | None:
        self._ensure()
        try:
            return self._out(self.raw.find_one({"_id": doc_id}, {OUTBOX_FIELD: 0}))
        except PyMongoError as exc:
            raise _translate(exc) from exc

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

    def find(self, query: Query, skip: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        self._ensure()
        sort = [(_mongo_path(p), DESCENDING if d < 0 else ASCENDING) for p, d in query.sort]
        sort.append(("_id", ASCENDING))
        try:
            cursor = self.raw.find(self._filter(query), {OUTBOX_FIELD: 0}).sort(sort).skip(skip)
            if limit is not None:
                cursor = cursor.limit(limit)
            return [self._out(doc) for doc in cursor]
        except PyMongoError as exc:
            raise _translate(exc) from exc

    def count(self, query: Query) -> int:
        self._ensure()
        try:
            return self.raw.count_documents(self._filter(query))
        except PyMongoError as exc:
            raise _translate(exc) from exc

    def delete(self, doc_id: str) -> bool:
        self._ensure()
        try:
            return self.raw.delete_one({"_id": doc_id}).deleted_count == 1
        except PyMongoError as exc:
            raise _translate(exc) from exc
