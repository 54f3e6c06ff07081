"""The storage contract of the mail outbox: every adapter keeps the mails a
change decided in the same atomic write as the change, and hands them to the
sender in due order, each to one claim at a time, until it settles them; a
failed mail is kept without its body."""
from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest

from common.clock import rfc3339
from common.storage import (
    MAIL_FAILED, MAIL_PENDING, CollectionSpec, DuplicateKeyError, Index, OutboxMail, OutboxMessage, PendingMail,
    Query, StorageError,
)
from common.storage.base import MAIL_ERROR_MAX_CHARS, mail_instant
from common.storage.memory import MemoryStore
from common.storage.mongo import HIDDEN_FIELDS, MAIL_DUE, MAIL_FAILURES, MAILS_FIELD, OUTBOX_BYTES, MongoStore
from common.storage.sqlite import SQLiteStore

PEOPLE = CollectionSpec("people", (Index(("email",), unique=True),))
THINGS = CollectionSpec("things")
LOOSE = CollectionSpec("loose")  # declared by no service as carrying an outbox

pytestmark = pytest.mark.outbox(PEOPLE, THINGS)

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)  # later than every write of these tests


def at(seconds: float) -> str:
    return rfc3339(T0 + timedelta(seconds=seconds))


def mail(n: int, recipient: str = "c1") -> OutboxMail:
    return OutboxMail(f"m{n}", recipient, f'{{"to": "{recipient}@example.com", "n": {n}}}')


def event(n: int) -> OutboxMessage:
    return OutboxMessage(f"e{n}", "thing.happened", f'{{"n": {n}}}')


def person(i: int, **extra):
    return {"id": f"p{i}", "email": f"user{i}@example.com", "name": f"User {i}", **extra}


def ids(mails: list[PendingMail]) -> list[str]:
    return [m.id for m in mails]


def counts(pending: int, failed: int) -> dict[str, int]:
    return {MAIL_PENDING: pending, MAIL_FAILED: failed}


def seen(mails: list[PendingMail]) -> list[tuple]:
    """The mails as the sender reads them, but for their creation instant."""
    return [(m.id, m.recipient, m.body, m.attempts, m.next_attempt_at) for m in mails]


def kept_of_failed(store, mail_id: str) -> dict | None:
    """What the adapter keeps of the failed mail ``mail_id``, read from its own storage."""
    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as conn:
            row = conn.execute("SELECT recipient, attempts, last_error, failed_at, body FROM mail_outbox"
                               " WHERE id = ? AND state = ?", (mail_id, MAIL_FAILED)).fetchone()
        return dict(zip(("recipient", "attempts", "error", "failed_at", "body"), row)) if row else None
    if isinstance(store, MongoStore):
        for spec in (PEOPLE, THINGS):  # it is out of every document
            assert store.collection(spec).raw.find_one({f"{MAILS_FIELD}.id": mail_id}) is None
        record = store.db[MAIL_FAILURES].find_one({"_id": mail_id})
        if record is None:
            return None
        return {"recipient": record["recipient"], "attempts": record["attempts"], "error": record["error"],
                "failed_at": record["failed_at"], "body": record.get("body", "")}
    assert isinstance(store, MemoryStore)
    stored = store._db.mails.get(mail_id)
    if stored is None or stored.state != MAIL_FAILED:
        return None
    return {"recipient": stored.mail.recipient, "attempts": stored.attempts, "error": stored.last_error,
            "failed_at": stored.failed_at, "body": stored.mail.body}


def test_a_mail_is_stored_with_the_write_and_due_at_once(store):
    before = mail_instant()
    store.collection(PEOPLE).insert(person(1), [event(1), mail(1)])
    after = mail_instant()
    [due] = store.due_mails(after)
    assert (due.id, due.recipient, due.body, due.attempts) == ("m1", "c1", mail(1).body, 0)
    assert before <= due.next_attempt_at <= after and due.created_at == due.next_attempt_at
    assert store.due_mails(rfc3339(datetime(2000, 1, 1, tzinfo=timezone.utc))) == []
    # The event goes to the relay, the mail only to the sender.
    assert [e.id for e in store.pending_events()] == ["e1"]
    assert store.mail_counts() == counts(1, 0)


def test_mails_are_due_longest_due_first_across_documents_and_collections(store):
    people, things = store.collection(PEOPLE), store.collection(THINGS)
    doc = people.insert(person(1), [mail(1)])
    people.replace({**doc, "name": "x"}, [mail(2)])
    things.insert({"id": "t1"}, [mail(3), mail(4)])
    people.insert(person(2), [mail(5)])
    # Never tried yet: due in the order they were written (the instant, then the write order).
    assert ids(store.due_mails(at(0))) == ["m1", "m2", "m3", "m4", "m5"]
    for mail_id, seconds in (("m1", 30), ("m2", 10), ("m3", 20), ("m4", 5), ("m5", 40)):
        store.mail_retry(mail_id, 1, at(seconds), "421 try later")
    assert ids(store.due_mails(at(60))) == ["m4", "m2", "m3", "m1", "m5"]
    assert ids(store.due_mails(at(60), limit=2)) == ["m4", "m2"]
    assert ids(store.due_mails(at(20))) == ["m4", "m2", "m3"]
    assert store.due_mails(at(60), limit=0) == []


def test_a_retried_mail_waits_for_its_next_attempt(store):
    store.collection(PEOPLE).insert(person(1), [mail(1)])
    store.mail_retry("m1", 1, at(60), "421 4.7.0 try again later")
    assert store.due_mails(at(59.999999)) == []
    assert seen(store.due_mails(at(60))) == [("m1", "c1", mail(1).body, 1, at(60))]
    # Any RFC 3339 form of an instant is the same instant.
    assert ids(store.due_mails("2030-01-01T01:01:00+01:00")) == ["m1"]
    store.mail_retry("m1", 2, "2030-01-01T00:03:00Z", "x" * (MAIL_ERROR_MAX_CHARS * 3))
    assert store.due_mails(at(179)) == []
    assert seen(store.due_mails(at(180))) == [("m1", "c1", mail(1).body, 2, at(180))]
    assert store.mail_counts() == counts(1, 0)


def test_a_failed_mail_is_final_kept_without_its_body_and_counted(store):
    store.collection(PEOPLE).insert(person(1), [mail(1), mail(2)])
    before = mail_instant()
    store.mail_failed("m1", 3, "550 5.1.1 no such user")
    assert ids(store.due_mails(at(10 ** 6))) == ["m2"]
    assert store.mail_counts() == counts(1, 1)
    kept = kept_of_failed(store, "m1")
    assert before <= kept.pop("failed_at") <= mail_instant()
    assert kept == {"recipient": "c1", "attempts": 3, "error": "550 5.1.1 no such user", "body": ""}
    # Final: neither a retry nor another failure nor a claim brings it back.
    store.mail_retry("m1", 4, at(0), "late retry")
    store.mail_failed("m1", 5, "again")
    assert ids(store.claim_due_mails(at(10 ** 6), at(10 ** 6 + 60))) == ["m2"]
    assert kept_of_failed(store, "m1")["attempts"] == 3
    assert store.mail_counts() == counts(1, 1)
    store.mail_sent("m2")
    assert store.mail_counts() == counts(0, 1)
    assert kept_of_failed(store, "m2") is None


def test_a_sent_mail_is_removed(store):
    people = store.collection(PEOPLE)
    people.insert(person(1), [mail(1), mail(2)])
    store.mail_sent("m1")
    assert ids(store.due_mails(at(0))) == ["m2"]
    store.mail_sent("m1")  # a lost answer, sent again: nothing left to remove
    store.mail_sent("unknown")
    store.mail_retry("m1", 1, at(0), "gone")
    store.mail_failed("unknown", 1, "gone")
    assert store.mail_counts() == counts(1, 0)
    store.mail_sent("m2")
    assert store.due_mails(at(0)) == [] and store.mail_counts() == counts(0, 0)
    assert people.get("p1") == {**person(1), "_rev": 1}


def test_the_mails_of_a_recipient_are_cancelled_everywhere(store):
    people, things = store.collection(PEOPLE), store.collection(THINGS)
    people.insert(person(1), [mail(1, "c1"), mail(2, "c2")])
    people.insert(person(2), [mail(3, "c1")])
    things.insert({"id": "t1"}, [mail(4, "c1"), mail(5, "c3")])
    store.mail_failed("m3", 5, "550")
    store.mail_failed("m5", 1, "550")
    assert store.mail_counts() == counts(3, 2)
    assert store.cancel_mails("c1") == 3
    assert ids(store.due_mails(at(0))) == ["m2"]
    assert store.mail_counts() == counts(1, 1)
    assert kept_of_failed(store, "m3") is None and kept_of_failed(store, "m5")["recipient"] == "c3"
    assert store.cancel_mails("c1") == 0
    assert store.cancel_mails("nobody") == 0
    # The documents themselves are untouched.
    assert people.get("p2") == {**person(2), "_rev": 1}


def test_deleting_a_document_deletes_its_mails(store):
    people = store.collection(PEOPLE)
    people.insert(person(1), [mail(1), mail(2)])
    people.insert(person(2), [mail(3)])
    store.collection(THINGS).insert({"id": "p1"}, [mail(4)])  # the same id in another collection
    store.mail_failed("m2", 1, "550")
    store.mail_failed("m4", 1, "550")
    assert people.delete("p1") is True
    assert ids(store.due_mails(at(0))) == ["m3"]
    assert store.mail_counts() == counts(1, 1)
    assert kept_of_failed(store, "m2") is None and kept_of_failed(store, "m4") is not None
    # A document stored again under that id starts with no mails.
    people.insert(person(1))
    assert ids(store.due_mails(at(0))) == ["m3"]


def test_replace_keeps_the_pending_mails_and_adds_new_ones(store):
    people = store.collection(PEOPLE)
    doc = people.insert(person(1, nick="Pepe"), [mail(1), mail(2)])
    store.mail_retry("m1", 1, at(30), "421")
    store.mail_failed("m2", 2, "550")
    doc = people.replace({k: v for k, v in doc.items() if k != "nick"})
    assert seen(store.due_mails(at(30))) == [("m1", "c1", mail(1).body, 1, at(30))]
    assert store.mail_counts() == counts(1, 1)
    people.replace(doc, [event(1), mail(3)])
    assert ids(store.due_mails(at(0))) == ["m3"]
    assert ids(store.due_mails(at(30))) == ["m3", "m1"]
    assert store.mail_counts() == counts(2, 1)
    assert people.get("p1") == {**person(1), "_rev": 3}


def test_a_refused_write_stores_no_mail(store):
    people = store.collection(PEOPLE)
    first = people.insert(person(1))
    with pytest.raises(DuplicateKeyError):
        people.insert({**person(2), "email": "user1@example.com"}, [mail(1)])
    with pytest.raises(DuplicateKeyError):
        people.insert(person(1), [mail(2)])
    assert people.replace({**first, "_rev": 99}, [mail(3)]) is None
    second = people.insert(person(2))
    with pytest.raises(DuplicateKeyError):
        people.replace({**second, "email": "user1@example.com"}, [mail(4)])
    assert store.due_mails(at(0)) == [] and store.mail_counts() == counts(0, 0)
    # The refused ids were never taken: a later write stores them.
    people.replace(first, [mail(1)])
    assert ids(store.due_mails(at(0))) == ["m1"]


def test_a_mail_id_is_stored_once(store, store_database):
    people = store.collection(PEOPLE)
    doc = people.insert(person(1), [mail(1), mail(1)])
    store.mail_retry("m1", 1, at(30), "421")
    # The same change run again (a redelivered message) goes through and keeps the mail as it was.
    doc = people.replace(doc, [mail(1), mail(2)])
    assert doc["_rev"] == 2
    assert [(m.id, m.attempts) for m in store.due_mails(at(30))] == [("m2", 0), ("m1", 1)]
    assert seen(store.due_mails(at(30)))[1] == ("m1", "c1", mail(1).body, 1, at(30))
    if store_database.kind == "mongomock":
        pytest.skip("mongomock does not enforce a unique index over an array's elements (ix_mails); "
                    "the real MongoDB runs the rest when MONGO_URL is set")
    # Handed again in another document's write: that write goes through, the mail stays once.
    other = people.insert(person(2), [mail(2), mail(3)])
    people.replace({**other, "name": "y"}, [mail(1)])
    assert sorted(ids(store.due_mails(at(30)))) == ["m1", "m2", "m3"]
    assert store.mail_counts() == counts(3, 0)
    assert people.get("p2") == {**person(2), "name": "y", "_rev": 2}


def test_the_mail_fields_never_reach_a_document(store, store_database):
    people = store.collection(PEOPLE)
    doc = people.insert(person(1), [event(1), mail(1)])
    store.mail_retry("m1", 1, at(5), "421")
    people.replace({**doc, "name": "x"}, [mail(2)])
    expected = {**person(1), "name": "x", "_rev": 2}
    assert people.get("p1") == expected
    assert people.find_one(Query(equals={"email": "user1@example.com"})) == expected
    if isinstance(store, MongoStore):
        raw = people.raw.find_one({"_id": "p1"})
        assert [m["id"] for m in raw[MAILS_FIELD]] == ["m1", "m2"]
        # A document handed back with the adapter's names in it cannot overwrite them.
        people.replace({**expected, **{name: "forged" for name in HIDDEN_FIELDS}})
        assert [m["id"] for m in people.raw.find_one({"_id": "p1"})[MAILS_FIELD]] == ["m1", "m2"]
    assert ids(store.due_mails(at(5))) == ["m2", "m1"]


def test_a_collection_without_an_outbox_refuses_mails(store, store_database):
    if isinstance(store, SQLiteStore):
        pytest.skip("SQLite keeps one mail table for every collection: any collection may take mails")
    loose = store.collection(LOOSE)
    with pytest.raises(StorageError, match="outbox"):
        loose.insert({"id": "l1"}, [mail(1)])
    assert loose.get("l1") is None
    doc = loose.insert({"id": "l1"})
    with pytest.raises(StorageError, match="outbox"):
        loose.replace(doc, [mail(2)])
    assert loose.get("l1") == doc
    assert store.due_mails(at(0)) == [] and store.mail_counts() == counts(0, 0)


def test_the_sender_of_another_process_settles_the_mails(store, reopen_store):
    sender = reopen_store(outbox=(PEOPLE, THINGS))
    store.collection(PEOPLE).insert(person(1), [mail(1)])
    store.collection(THINGS).insert({"id": "t1"}, [mail(2, "c2")])
    assert ids(sender.due_mails(at(0))) == ["m1", "m2"]
    sender.mail_sent("m1")
    sender.mail_failed("m2", 1, "550")
    assert store.mail_counts() == sender.mail_counts() == counts(0, 1)
    assert sender.cancel_mails("c2") == 1
    assert store.mail_counts() == counts(0, 0)


def test_mails_and_events_are_independent(store):
    people = store.collection(PEOPLE)
    people.insert(person(1), [event(1), mail(1)])
    store.mark_published(["e1"])
    assert store.pending_events() == [] and ids(store.due_mails(at(0))) == ["m1"]
    people.replace(people.get("p1"), [event(2)])
    store.mail_sent("m1")
    assert [e.id for e in store.pending_events()] == ["e2"] and store.due_mails(at(0)) == []
    if isinstance(store, MongoStore):
        raw = people.raw.find_one({"_id": "p1"})
        assert MAILS_FIELD not in raw and MAIL_DUE not in raw


# -- claims: several senders of one service -------------------------------------------

def test_a_claim_leases_the_due_mails_until_the_lease_runs_out(store):
    people = store.collection(PEOPLE)
    people.insert(person(1), [mail(1), mail(2)])
    store.collection(THINGS).insert({"id": "t1"}, [mail(3)])
    store.mail_retry("m3", 1, at(30), "421")
    [written] = store.due_mails(at(0), limit=1)
    [first] = store.claim_due_mails(at(0), at(100), limit=1)
    assert seen([first]) == [("m1", "c1", mail(1).body, 0, at(100))] and first.created_at == written.created_at
    assert ids(store.claim_due_mails(at(0), at(100))) == ["m2"]
    assert store.claim_due_mails(at(29), at(129)) == []  # m3 is not due yet; m1 and m2 are leased
    assert ids(store.claim_due_mails(at(30), "2030-01-01T01:02:10+01:00")) == ["m3"]
    assert store.claim_due_mails(at(99.999999), at(200)) == []
    assert store.mail_counts() == counts(3, 0)
    # The lease runs out with the mails unsettled (their sender died): due again, as they were.
    assert seen(store.due_mails(at(100))) == [("m1", "c1", mail(1).body, 0, at(100)),
                                              ("m2", "c1", mail(2).body, 0, at(100))]
    assert [(m.id, m.attempts, m.next_attempt_at) for m in store.claim_due_mails(at(100), at(200))] == [
        ("m1", 0, at(200)), ("m2", 0, at(200))]
    assert ids(store.claim_due_mails(at(130), at(230))) == ["m3"]
    assert store.claim_due_mails(at(10), at(20), limit=0) == []


def test_a_claimed_mail_is_settled_as_any_other(store):
    people = store.collection(PEOPLE)
    people.insert(person(1), [mail(1), mail(2), mail(3), mail(4)])
    assert ids(store.claim_due_mails(at(0), at(100))) == ["m1", "m2", "m3", "m4"]
    store.mail_sent("m1")
    store.mail_retry("m2", 1, at(10), "451 4.3.0 later")
    store.mail_failed("m3", 1, "550 5.1.1 no such user")
    store.mail_retry("m4", 0, at(20), "cannot connect")  # put back untried: no try charged
    assert seen(store.due_mails(at(20))) == [("m2", "c1", mail(2).body, 1, at(10)),
                                             ("m4", "c1", mail(4).body, 0, at(20))]
    assert store.mail_counts() == counts(2, 1)
    assert ids(store.claim_due_mails(at(10), at(110))) == ["m2"]
    assert ids(store.claim_due_mails(at(20), at(120))) == ["m4"]
    assert kept_of_failed(store, "m3")["error"] == "550 5.1.1 no such user"


def test_two_claims_at_once_never_hand_out_the_same_mail(store, store_database, reopen_store):
    other = reopen_store(outbox=(PEOPLE, THINGS))
    people, things = store.collection(PEOPLE), store.collection(THINGS)
    for n in range(30):
        people.insert(person(n), [mail(n)])
    things.insert({"id": "t1"}, [mail(n) for n in range(30, 40)])  # many mails in one document
    claims: dict[int, list[str]] = {0: [], 1: []}

    def claim_all(n: int, sender, start: threading.Barrier | None = None) -> None:
        if start is not None:
            start.wait(10)
        while batch := sender.claim_due_mails(at(0), at(100), limit=3):
            claims[n].extend(ids(batch))

    if store_database.kind in ("sqlite", "mongodb"):  # real databases: two threads claiming side by side
        start = threading.Barrier(2)
        threads = [threading.Thread(target=claim_all, args=(n, s, start)) for n, s in enumerate((store, other))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads)
    else:  # in-process fakes: one claim after the other
        while True:
            before = len(claims[0]) + len(claims[1])
            for n, sender in enumerate((store, other)):
                claims[n].extend(ids(sender.claim_due_mails(at(0), at(100), limit=3)))
            if len(claims[0]) + len(claims[1]) == before:
                break
        assert claims[0] and claims[1]
    assert not set(claims[0]) & set(claims[1])
    assert sorted(claims[0] + claims[1]) == sorted(f"m{n}" for n in range(40))
    assert store.claim_due_mails(at(99), at(199)) == [] and store.mail_counts() == counts(40, 0)


def test_the_failures_of_a_recipient_never_fill_a_document(store):
    """A recipient whose mails all fail: what is kept of them takes no room
    from the pending ones (MongoDB: out of the document's bounded backlog)."""
    people = store.collection(PEOPLE)
    doc = people.insert(person(1))
    for n in range(20):
        doc = people.replace({**doc, "n": n}, [mail(n, "c1")])
        [claimed] = store.claim_due_mails(mail_instant(), at(10))
        store.mail_failed(claimed.id, 1, "550 5.1.1 no such user " + "x" * 500)
    assert store.mail_counts() == counts(0, 20)
    if isinstance(store, MongoStore):
        raw = people.raw.find_one({"_id": "p1"})
        assert raw.get(OUTBOX_BYTES, 0) == 0 and MAILS_FIELD not in raw
    assert store.cancel_mails("c1") == 20 and store.mail_counts() == counts(0, 0)
