"""What the in-memory adapter promises beyond the storage contract.

The contract itself (test_store_contract.py and the repositories' suites)
runs on it like on every adapter; these are the points only it has to hold:
callers never share its state, ``memory://name`` is one database per name in
the process, events go only where an outbox was declared, and concurrent
writers in threads still get a compare-and-set.
"""
from __future__ import annotations

import itertools
import threading
from datetime import datetime, timezone

import pytest

from common.storage import CollectionSpec, DuplicateKeyError, Index, OutboxMessage, Query, StorageError, open_store
from common.storage import memory
from common.storage.memory import MemoryStore

PEOPLE = CollectionSpec("people", (Index(("email",), unique=True),))
LOG = CollectionSpec("log")


def event(n: int) -> OutboxMessage:
    return OutboxMessage(f"e{n}", "thing.happened", f'{{"n": {n}}}')


def test_documents_are_copied_in_and_out():
    people = MemoryStore(outbox=(PEOPLE,)).collection(PEOPLE)
    doc = {"id": "p1", "email": "a@example.com", "tags": ["x"], "team": {"id": "t1"}}
    people.insert(doc)
    doc["tags"].append("changed by the caller")
    doc["team"]["id"] = "changed"
    loaded = people.get("p1")
    assert loaded == {"id": "p1", "email": "a@example.com", "tags": ["x"], "team": {"id": "t1"}, "_rev": 1}
    loaded["tags"].append("changed again")
    people.find(Query())[0]["team"]["id"] = "and again"
    assert people.get("p1")["tags"] == ["x"] and people.get("p1")["team"] == {"id": "t1"}


def test_documents_are_stored_as_json():
    people = MemoryStore().collection(PEOPLE)
    people.insert({"id": "p1", "email": None, "pair": (1, 2)})
    assert people.get("p1")["pair"] == [1, 2]
    with pytest.raises(TypeError):  # what the SQLite adapter refuses too
        people.insert({"id": "p2", "email": None, "at": datetime.now(timezone.utc)})
    assert people.get("p2") is None


def test_values_compare_by_json_type():
    people = MemoryStore().collection(PEOPLE)
    people.insert({"id": "p1", "email": None, "flag": True, "n": 1})
    people.insert({"id": "p2", "email": None, "flag": 1, "n": "1"})
    assert [d["id"] for d in people.find(Query(equals={"flag": True}))] == ["p1"]
    assert [d["id"] for d in people.find(Query(less_than={"n": 2}))] == ["p1"]
    assert [d["id"] for d in people.find(Query(any_of={"missing": [None]}))] == ["p1", "p2"]
    with pytest.raises(ValueError):
        people.find(Query(equals={"bad path": 1}))


def test_the_same_name_is_the_same_database_in_the_process():
    try:
        first = open_store("memory://shared-test", outbox=(PEOPLE,))
        second = open_store("memory://shared-test", outbox=(PEOPLE,))
        first.collection(PEOPLE).insert({"id": "p1", "email": "a@example.com"}, [event(1)])
        assert second.collection(PEOPLE).get("p1")["email"] == "a@example.com"
        assert [e.id for e in second.pending_events()] == ["e1"]
        private = open_store("memory://", outbox=(PEOPLE,))
        assert private.collection(PEOPLE).get("p1") is None and private.pending_events() == []
    finally:
        memory.discard("shared-test")
    assert open_store("memory://shared-test").collection(PEOPLE).get("p1") is None
    memory.discard("shared-test")


def test_events_written_where_no_outbox_was_declared_are_refused():
    store = MemoryStore(outbox=(PEOPLE,))
    log = store.collection(LOG)
    with pytest.raises(StorageError, match="outbox"):
        log.insert({"id": "l1"}, [event(1)])
    assert log.get("l1") is None
    log.insert({"id": "l1"})  # without events it is any collection
    with pytest.raises(StorageError, match="outbox"):
        log.replace({"id": "l1", "_rev": 1}, [event(2)])
    assert log.get("l1")["_rev"] == 1 and store.pending_events() == []


def test_a_relay_sees_only_the_collections_it_was_told_of():
    try:
        writer = MemoryStore("relay-test", outbox=(PEOPLE, LOG))
        writer.collection(PEOPLE).insert({"id": "p1", "email": None}, [event(1)])
        writer.collection(LOG).insert({"id": "l1"}, [event(2)])
        relay = MemoryStore("relay-test", outbox=(LOG,))
        assert [e.id for e in relay.pending_events()] == ["e2"]
        relay.mark_published(["e1", "e2"])
        assert [e.id for e in writer.pending_events()] == ["e1"]
    finally:
        memory.discard("relay-test")


def test_concurrent_writers_in_threads_never_lose_an_update():
    store = MemoryStore(outbox=(PEOPLE,))
    people = store.collection(PEOPLE)
    people.insert({"id": "p1", "email": None, "n": 0})
    counter = itertools.count()

    def bump(times: int) -> None:
        for _ in range(times):
            while True:
                doc = people.get("p1")
                if people.replace({**doc, "n": doc["n"] + 1}, [event(next(counter))]) is not None:
                    break

    threads = [threading.Thread(target=bump, args=(50,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert people.get("p1")["n"] == 400 and people.get("p1")["_rev"] == 401
    assert len(store.pending_events(limit=1000)) == 400


def test_an_event_id_already_queued_is_refused_with_its_write():
    people = MemoryStore(outbox=(PEOPLE,)).collection(PEOPLE)
    people.insert({"id": "p1", "email": None}, [event(1)])
    with pytest.raises(DuplicateKeyError):
        people.insert({"id": "p2", "email": None}, [event(1)])
    with pytest.raises(DuplicateKeyError):
        people.replace({"id": "p1", "email": None, "_rev": 1}, [event(2), event(2)])
    assert people.get("p2") is None and people.get("p1")["_rev"] == 1
