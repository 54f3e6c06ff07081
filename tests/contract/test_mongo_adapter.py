"""What the MongoDB adapter promises beyond the storage contract: a
document's pending events and mails are bounded, so a long broker or mail
server outage can never push it towards MongoDB's 16 MiB, and the bound
frees itself as the relay publishes and the sender sends (or gives up: a
failed mail leaves the document); a document's ``_mail_due`` stays the
earliest next attempt of its pending mails, even when a mail is added while
the sender changes another; of two claims racing for one document's mails,
one gets them. On mongomock, and on a real server whenever ``MONGO_URL`` is
set.
"""
from __future__ import annotations

import bson
import pytest

from pymongo.errors import AutoReconnect

from common.storage import CollectionSpec, InvalidData, OutboxMail, OutboxMessage, StorageUnavailable
from common.storage import mongo
from common.storage.mongo import (
    MAIL_DUE, MAIL_EXTRA_BYTES, MAIL_FAILURES, MAILS_FIELD, OUTBOX_BYTES, OUTBOX_FIELD, OUTBOX_MAX_BYTES,
    MongoCollection, MongoStore, _settlement,
)

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


def mail(n: int, body_bytes: int = 10) -> OutboxMail:
    return OutboxMail(f"m{n:04d}", "c1", "x" * body_bytes)


def mail_bytes(body_bytes: int = 10) -> int:
    return len("m0001") + len("c1") + body_bytes + MAIL_EXTRA_BYTES


def raw(store: MongoStore) -> dict:
    return store.collection(DOCS).raw.find_one({"_id": "d1"})


def test_mails_count_in_the_backlog_until_they_are_sent_or_failed(open_mongo):
    store = open_mongo()
    docs = store.collection(DOCS)
    doc = docs.insert({"id": "d1"}, [event(1, 100), mail(1, 1_000)])
    assert raw(store)[OUTBOX_BYTES] == len("e0001") + len("doc.changed") + 100 + mail_bytes(1_000)
    # Published events free their bytes; the mail's stay until it is sent.
    store.mark_published(["e0001"])
    assert raw(store)[OUTBOX_BYTES] == mail_bytes(1_000) and not raw(store).get(OUTBOX_FIELD)
    doc = docs.replace(doc, [mail(2)])
    assert raw(store)[OUTBOX_BYTES] == mail_bytes(1_000) + mail_bytes()
    store.mail_failed("m0002", 1, "550 " + "é" * 5_000)  # a failed mail leaves the document, its error cut
    assert raw(store)[OUTBOX_BYTES] == mail_bytes(1_000)
    assert [m["id"] for m in raw(store)[MAILS_FIELD]] == ["m0001"]
    record = store.db[MAIL_FAILURES].find_one({"_id": "m0002"})
    assert "body" not in record and record["error"] == "550 " + "é" * 996
    assert (record["collection"], record["doc_id"], record["recipient"], record["attempts"]) == ("docs", "d1", "c1", 1)
    store.mail_sent("m0001")
    current = raw(store)
    assert current[OUTBOX_BYTES] == 0 and MAILS_FIELD not in current and MAIL_DUE not in current
    assert store.mail_counts() == {"pendiente": 0, "fallido": 1}
    assert store.cancel_mails("c1") == 1 and store.mail_counts() == {"pendiente": 0, "fallido": 0}


def test_a_recipient_whose_mails_keep_failing_never_fills_the_backlog(open_mongo):
    store = open_mongo(outbox_max_bytes=3 * mail_bytes(1_000))
    docs = store.collection(DOCS)
    doc = docs.insert({"id": "d1"})
    for n in range(1, 31):  # ten times what the backlog takes, each one refused for good
        doc = docs.replace({**doc, "n": n}, [mail(n, 1_000)])
        [claimed] = store.claim_due_mails("2100-01-01T00:00:00Z", "2100-01-01T00:10:00Z")
        store.mail_failed(claimed.id, 1, "550 5.1.1 no such user")
    assert raw(store).get(OUTBOX_BYTES) == 0
    assert store.mail_counts() == {"pendiente": 0, "fallido": 30}
    assert docs.replace({**doc, "n": 31}, [mail(31, 1_000), mail(32, 1_000), mail(33, 1_000)]) is not None
    # Deleting the document takes its failed mails too.
    assert docs.delete("d1") and store.mail_counts() == {"pendiente": 0, "fallido": 0}


def test_mails_fill_the_backlog_like_events(open_mongo):
    store = open_mongo(outbox_max_bytes=3 * mail_bytes(1_000))
    docs = store.collection(DOCS)
    with pytest.raises(InvalidData):
        docs.insert({"id": "d1"}, [mail(1, 4 * 1_000 + 3 * MAIL_EXTRA_BYTES)])
    assert docs.get("d1") is None and store.mail_counts()["pendiente"] == 0
    doc = docs.insert({"id": "d1"}, [mail(1, 1_000), mail(2, 1_000)])
    doc = docs.replace(doc, [mail(3, 1_000)])
    with pytest.raises(StorageUnavailable, match="waiting"):
        docs.replace({**doc, "n": 1}, [mail(4, 1_000)])
    assert docs.get("d1") == doc
    store.mail_sent("m0001")
    assert docs.replace({**doc, "n": 1}, [mail(4, 1_000)]) is not None
    assert [m.id for m in store.due_mails("2100-01-01T00:00:00Z")] == ["m0002", "m0003", "m0004"]


def test_the_due_instant_is_the_earliest_pending_mail(open_mongo):
    store = open_mongo()
    docs = store.collection(DOCS)
    docs.insert({"id": "d1"}, [mail(1), mail(2)])
    written = raw(store)[MAIL_DUE]
    assert written == raw(store)[MAILS_FIELD][0]["next_attempt_at"]
    store.mail_retry("m0001", 1, "2030-01-01T00:10:00Z", "421")
    assert raw(store)[MAIL_DUE] == written  # m0002 is still due at once
    store.mail_retry("m0002", 1, "2030-01-01T00:05:00Z", "421")
    assert raw(store)[MAIL_DUE] == "2030-01-01T00:05:00.000000Z"
    store.mail_failed("m0002", 2, "550")
    assert raw(store)[MAIL_DUE] == "2030-01-01T00:10:00.000000Z"
    store.mail_failed("m0001", 2, "550")
    assert MAIL_DUE not in raw(store)
    assert store.due_mails("2100-01-01T00:00:00Z") == []


def test_a_mail_added_while_the_sender_changes_another_keeps_the_due_instant(open_mongo):
    store, service = open_mongo(), open_mongo()
    docs = store.collection(DOCS)
    docs.insert({"id": "d1"}, [mail(1)])
    later = {"attempts": 1, "next_attempt_at": "2030-01-01T00:10:00.000000Z", "last_error": "421"}
    reads = []

    def racing(mails):
        # Between the sender's read and its update, the service adds a mail due at once.
        if not reads:
            theirs = service.collection(DOCS)
            theirs.replace(theirs.get("d1"), [mail(2)])
        reads.append([m["id"] for m in mails])
        return _settlement(mails, "m0001", later)

    assert docs.change_mails({f"{MAILS_FIELD}.id": "m0001"}, racing) == 1
    assert reads == [["m0001"], ["m0001", "m0002"]]  # the first update was refused, the mails read again
    current = raw(store)
    assert current[MAIL_DUE] == current[MAILS_FIELD][1]["next_attempt_at"] < later["next_attempt_at"]
    assert [m.id for m in store.due_mails(current[MAIL_DUE])] == ["m0002"]
    first = dict(current[MAILS_FIELD][0])
    assert first.pop("created_at") <= current[MAIL_DUE]  # written before the other one
    assert first == {"id": "m0001", "recipient": "c1", "body": "x" * 10, "state": "pendiente", **later}


def test_of_two_claims_racing_for_a_document_one_gets_the_mails(open_mongo, monkeypatch):
    store, other = open_mongo(), open_mongo()
    docs = store.collection(DOCS)
    docs.insert({"id": "d1"}, [mail(1), mail(2)])
    original, reads = mongo._claim, []

    def racing(mails, wanted, now, lease_until):
        # Between this claim's read and its update, the other sender claims the same mails.
        if not reads:
            reads.append("raced")
            assert [m.id for m in other.claim_due_mails(now, "2100-01-01T00:20:00Z")] == ["m0001", "m0002"]
        reads.append([m["next_attempt_at"] for m in mails])
        return original(mails, wanted, now, lease_until)

    monkeypatch.setattr(mongo, "_claim", racing)
    assert store.claim_due_mails("2100-01-01T00:00:00Z", "2100-01-01T00:10:00Z") == []
    # "raced", the other's read, this one's (refused: the mails changed since), and its second read: leased.
    assert len(reads) == 4 and reads[2] == reads[1] and reads[3] == ["2100-01-01T00:20:00.000000Z"] * 2
    assert raw(store)[MAIL_DUE] == "2100-01-01T00:20:00.000000Z"
    monkeypatch.setattr(mongo, "_claim", original)
    assert [m.id for m in store.claim_due_mails("2100-01-01T00:20:00Z", "2100-01-01T00:30:00Z")] == [
        "m0001", "m0002"]


def test_a_failure_cut_before_the_mail_left_its_document_is_finished_by_the_next_claim(open_mongo, monkeypatch):
    store = open_mongo()
    docs = store.collection(DOCS)
    docs.insert({"id": "d1"}, [mail(1), mail(2)])
    store.claim_due_mails("2100-01-01T00:00:00Z", "2100-01-01T00:10:00Z")

    def cut(self, where, plan):
        raise AutoReconnect("connection closed")

    with monkeypatch.context() as patch:
        patch.setattr(MongoCollection, "change_mails", cut)
        with pytest.raises(StorageUnavailable):
            store.mail_failed("m0001", 1, "550")
    # The record is written, the mail is still in its document.
    assert store.db[MAIL_FAILURES].find_one({"_id": "m0001"})["error"] == "550"
    assert [m["id"] for m in raw(store)[MAILS_FIELD]] == ["m0001", "m0002"]
    # Once its lease runs out, the claim that finds it due moves it out instead of handing it out.
    assert [m.id for m in store.claim_due_mails("2100-01-01T00:10:00Z", "2100-01-01T00:20:00Z")] == ["m0002"]
    assert [m["id"] for m in raw(store)[MAILS_FIELD]] == ["m0002"]
    assert raw(store)[OUTBOX_BYTES] == mail_bytes()
    assert store.mail_counts() == {"pendiente": 1, "fallido": 1}


def test_a_failure_of_a_mail_sent_meanwhile_keeps_no_record(open_mongo, monkeypatch):
    store, service = open_mongo(), open_mongo()
    store.collection(DOCS).insert({"id": "d1"}, [mail(1)])
    original, sent = MongoCollection.change_mails, []

    def sent_first(self, where, plan):
        if not sent:  # another sender (its lease ran out) sends it between the failure's read and its removal
            sent.append("m0001")
            service.mail_sent("m0001")
        return original(self, where, plan)

    monkeypatch.setattr(MongoCollection, "change_mails", sent_first)
    store.mail_failed("m0001", 1, "550")
    assert sent and store.db[MAIL_FAILURES].find_one({"_id": "m0001"}) is None
    assert store.mail_counts() == {"pendiente": 0, "fallido": 0}
