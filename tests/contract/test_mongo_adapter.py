"""What the MongoDB adapter promises beyond the storage contract: a
document's pending events are bounded, so a long broker outage can never
push it towards MongoDB's 16 MiB, and the bound frees itself as the relay
publishes. On mongomock, and on a real server whenever ``MONGO_URL`` is set.
"""
from __future__ import annotations

import bson
import pytest

from common.storage import CollectionSpec, InvalidData, OutboxMessage, StorageUnavailable
from common.storage.mongo import OUTBOX_BYTES, OUTBOX_FIELD, OUTBOX_MAX_BYTES, MongoStore

DOCS = CollectionSpec("docs")
MIB = 1024 * 1024


@pytest.fixture
def open_mongo(store_database):
    """``open_mongo(outbox_max_bytes=...)``: a MongoDB store on the test's database."""
    if store_database.kind not in ("mongomock", "mongodb"):
        pytest.skip("the MongoDB adapter's own promises")

    def open_(**options) -> MongoStore:
        if store_database.kind == "mongomock":
            store = MongoStore("mongodb://localhost/test", client=store_database.client, outbox=(DOCS,), **options)
        else:
            store = MongoStore(store_database.url, outbox=(DOCS,), **options)
        store_database.stores.append(store)
        return store

    return open_


def event(n: int, body_bytes: int) -> OutboxMessage:
    return OutboxMessage(f"e{n:04d}", "doc.changed", "x" * body_bytes)


def outage(store: MongoStore, body_bytes: int, writes: int = 1000) -> tuple[int, StorageUnavailable]:
    """Change one document with one event each time, as during a broker
    outage (nothing is published), until the store refuses: (writes taken, the refusal)."""
    docs = store.collection(DOCS)
    doc = docs.insert({"id": "d1", "n": 0})
    for n in range(1, writes + 1):
        try:
            doc = docs.replace({**doc, "n": n}, [event(n, body_bytes)])
        except StorageUnavailable as refused:
            return n - 1, refused
        assert doc is not None
    raise AssertionError(f"{writes} writes with events were all taken")


def test_a_full_backlog_refuses_writes_with_events_until_the_relay_publishes(open_mongo):
    store = open_mongo(outbox_max_bytes=10_000)
    taken, refused = outage(store, body_bytes=1_000)
    assert "waiting for the broker" in str(refused)
    # Each event counts its strings: 9 fit in 10,000 bytes, the 10th does not.
    assert taken == 9
    raw = store.collection(DOCS).raw.find_one({"_id": "d1"})
    assert len(raw[OUTBOX_FIELD]) == 9 and raw[OUTBOX_BYTES] <= 10_000
    # The refused write left the document as it was.
    assert store.collection(DOCS).get("d1") == {"id": "d1", "n": 9, "_rev": 10}
    # Without events the document still takes changes.
    changed = store.collection(DOCS).replace({**store.collection(DOCS).get("d1"), "nota": "sin eventos"})
    assert changed is not None
    # Published: the backlog is empty again and writes with events are taken.
    store.mark_published([m.id for m in store.pending_events(1000)])
    raw = store.collection(DOCS).raw.find_one({"_id": "d1"})
    assert OUTBOX_FIELD not in raw and OUTBOX_BYTES not in raw
    assert store.collection(DOCS).replace(changed, [event(9999, 1_000)]) is not None
    assert [m.id for m in store.pending_events()] == ["e9999"]


def test_a_long_outage_never_brings_a_document_near_16_mib(open_mongo):
    store = open_mongo()
    taken, refused = outage(store, body_bytes=MIB // 2)
    assert taken == OUTBOX_MAX_BYTES // (MIB // 2) - 1
    raw = store.collection(DOCS).raw.find_one({"_id": "d1"})
    assert len(bson.encode(raw)) < OUTBOX_MAX_BYTES + 64 * 1024 < 16 * MIB


def test_a_partly_published_backlog_counts_what_is_left(open_mongo):
    store = open_mongo(outbox_max_bytes=10_000)
    outage(store, body_bytes=1_000)
    # Two relays side by side (two worker processes): overlapping batches.
    other = open_mongo(outbox_max_bytes=10_000)
    store.mark_published(["e0001", "e0002"])
    other.mark_published(["e0002", "e0003", "e0004"])
    raw = store.collection(DOCS).raw.find_one({"_id": "d1"})
    assert [m["id"] for m in raw[OUTBOX_FIELD]] == ["e0005", "e0006", "e0007", "e0008", "e0009"]
    assert raw[OUTBOX_BYTES] == 5 * (len("e0005") + len("doc.changed") + 1_000)
    # Room for exactly what was published, no more: 4 more events of this size.
    docs = store.collection(DOCS)
    doc = docs.get("d1")
    for n in range(10, 14):
        doc = docs.replace({**doc, "n": n}, [event(n, 1_000)])
    with pytest.raises(StorageUnavailable):
        docs.replace({**doc, "n": 14}, [event(14, 1_000)])


def test_the_events_of_one_write_larger_than_the_bound_are_invalid(open_mongo):
    store = open_mongo(outbox_max_bytes=10_000)
    docs = store.collection(DOCS)
    with pytest.raises(InvalidData):
        docs.insert({"id": "d1"}, [event(1, 20_000)])
    assert docs.get("d1") is None
    doc = docs.insert({"id": "d1"})
    with pytest.raises(InvalidData):
        docs.replace(doc, [event(2, 20_000)])
    assert docs.get("d1") == doc and store.pending_events() == []
