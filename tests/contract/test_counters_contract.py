"""The storage contract of counters: every adapter moves the counters handed
to a write in the same atomic write as its document, moves none for a write
it refuses, and reads them exactly; on MongoDB, where a counter is a document
of its own, the changes wait in the written document until they are applied,
and a process that dies in between loses none and counts none twice."""
from __future__ import annotations

import threading

import pytest
from pymongo.errors import AutoReconnect

from common.storage import (
    CollectionSpec, CounterChange, DuplicateKeyError, Index, InvalidData, OutboxMail, OutboxMessage, Query,
)
from common.storage import mongo
from common.storage.base import COUNTER_MAX
from common.storage.mongo import COUNTER_MOVES, COUNTER_OPS, COUNTERS, MongoStore
from common.storage.sqlite import SQLiteStore

PEOPLE = CollectionSpec("people", (Index(("email",), unique=True),))
THINGS = CollectionSpec("things")
LOOSE = CollectionSpec("loose")  # declared by no service as carrying an outbox

pytestmark = pytest.mark.outbox(PEOPLE, THINGS)


def person(i: int, **extra):
    return {"id": f"p{i}", "email": f"user{i}@example.com", "name": f"User {i}", **extra}


def moved(**deltas: int) -> list[CounterChange]:
    return [CounterChange(name, delta) for name, delta in deltas.items()]


def test_insert_and_replace_move_their_counters(store):
    people = store.collection(PEOPLE)
    doc = people.insert(person(1), moved(a=1))
    assert store.counters(["a"]) == {"a": 1}
    doc = people.replace({**doc, "name": "x"}, moved(a=-1, b=1))
    assert store.counters(["a", "b"]) == {"a": 0, "b": 1}
    people.replace({**doc, "name": "y"})  # a write moving nothing
    people.insert(person(2), moved(b=2))
    assert store.counters(["b", "a"]) == {"b": 3, "a": 0}
    assert people.get("p1") == {**person(1), "name": "y", "_rev": 3}


def test_several_changes_in_one_write_add_up(store):
    people = store.collection(PEOPLE)
    people.insert(person(1), [CounterChange("a", 2), CounterChange("b", 5), CounterChange("a", 3),
                              CounterChange("c", 1), CounterChange("c", -1)])
    assert store.counters(["a", "b", "c"]) == {"a": 5, "b": 5, "c": 0}


def test_counters_ride_with_events_and_mails(store):
    people = store.collection(PEOPLE)
    people.insert(person(1), [OutboxMessage("e1", "thing.happened", "{}"), CounterChange("a", 1),
                              OutboxMail("m1", "c1", "{}")])
    assert [e.id for e in store.pending_events()] == ["e1"]
    assert [m.id for m in store.due_mails("2100-01-01T00:00:00Z")] == ["m1"]
    assert store.counters(["a"]) == {"a": 1}


def test_a_refused_write_moves_no_counter(store, store_database):
    people = store.collection(PEOPLE)
    first = people.insert(person(1), moved(a=1))
    with pytest.raises(DuplicateKeyError):
        people.insert({**person(2), "email": "user1@example.com"}, moved(a=10))
    with pytest.raises(DuplicateKeyError):
        people.insert(person(1), moved(a=100))
    assert people.replace({**first, "_rev": 99}, moved(a=1000)) is None
    second = people.insert(person(2))
    with pytest.raises(DuplicateKeyError):
        people.replace({**second, "email": "user1@example.com"}, moved(a=10_000))
    with pytest.raises((TypeError, InvalidData)):  # a value no adapter can store
        people.insert(person(3, tags={"x"}), moved(a=100_000))
    if store_database.kind != "mongomock":  # its update pipelines take any Python value
        with pytest.raises((TypeError, InvalidData)):
            people.replace({**second, "tags": {"x"}}, moved(a=100_000))
    if isinstance(store, MongoStore):  # field names MongoDB cannot take
        with pytest.raises(InvalidData):
            people.insert({**person(4), "a.b": 1}, moved(a=100_000))
        with pytest.raises(InvalidData):
            people.replace({**second, "$x": 1}, moved(a=100_000))
    assert store.counters(["a"]) == {"a": 1}
    assert people.get("p3") is None and people.get("p2") == {**person(2), "_rev": 1}


def test_counters_never_moved_read_zero(store):
    assert store.counters(["nobody", "nothing"]) == {"nobody": 0, "nothing": 0}
    assert store.counters([]) == {}
    store.adjust_counters(moved(a=1))
    assert store.counters(["a", "a", "b"]) == {"a": 1, "b": 0}
    assert store.counters(iter(["b"])) == {"b": 0}


def test_adjust_and_set_move_counters_with_no_document(store):
    store.adjust_counters(moved(a=2, b=-1))
    store.adjust_counters([CounterChange("a", 1), CounterChange("a", 1)])
    store.adjust_counters([])
    assert store.counters(["a", "b"]) == {"a": 4, "b": -1}
    store.set_counters({"a": 10, "c": 7})
    store.set_counters({})
    assert store.counters(["a", "b", "c"]) == {"a": 10, "b": -1, "c": 7}
    store.collection(PEOPLE).insert(person(1), moved(a=1, c=-7))
    store.set_counters({"b": 0})
    assert store.counters(["a", "b", "c"]) == {"a": 11, "b": 0, "c": 0}


def test_delete_moves_no_counter(store):
    people = store.collection(PEOPLE)
    people.insert(person(1), moved(a=1))
    assert people.delete("p1") is True
    assert people.delete("p1") is False
    assert store.counters(["a"]) == {"a": 1}


def test_any_collection_moves_counters(store):
    loose = store.collection(LOOSE)
    doc = loose.insert({"id": "l1"}, moved(a=1))
    loose.replace(doc, moved(a=1))
    assert store.counters(["a"]) == {"a": 2}


def test_another_process_reads_the_same_counters(store, reopen_store):
    other = reopen_store(outbox=(PEOPLE, THINGS))
    store.collection(PEOPLE).insert(person(1), moved(a=1))
    other.collection(THINGS).insert({"id": "t1"}, moved(a=1, b=1))
    other.adjust_counters(moved(b=1))
    assert store.counters(["a", "b"]) == other.counters(["a", "b"]) == {"a": 2, "b": 2}


def test_counter_changes_are_checked():
    for name, delta in (("", 1), (None, 1), ("a", True), ("a", 1.0), ("a", "1")):
        with pytest.raises(TypeError):
            CounterChange(name, delta)
    with pytest.raises(InvalidData):
        CounterChange("a", COUNTER_MAX + 1)
    assert CounterChange("a", COUNTER_MAX).delta == COUNTER_MAX


def test_bad_counter_values_are_refused(store):
    with pytest.raises(TypeError):
        store.set_counters({"a": 1.5})
    with pytest.raises(TypeError):
        store.set_counters({"": 1})
    with pytest.raises(TypeError):
        store.adjust_counters([("a", 1)])
    with pytest.raises(TypeError):
        store.counters(["a", 1])
    with pytest.raises(TypeError):
        store.counters("ab")
    with pytest.raises(TypeError):
        store.collection(PEOPLE).insert(person(1), [CounterChange("a", 1), ("b", 1)])
    assert store.counters(["a", "b"]) == {"a": 0, "b": 0}
    assert store.collection(PEOPLE).get("p1") is None


def test_writes_side_by_side_are_all_counted(store, store_database, reopen_store):
    other = reopen_store(outbox=(PEOPLE, THINGS))

    def write(n: int, writer) -> None:
        things = writer.collection(THINGS)
        for i in range(25):
            doc = things.insert({"id": f"t{n}-{i}"}, moved(all=1, **{f"w{n}": 1}))
            things.replace(doc, moved(all=1))
            writer.counters(["all"])

    if store_database.kind == "mongomock":  # an in-process fake: one after the other
        write(0, store)
        write(1, other)
    else:
        threads = [threading.Thread(target=write, args=(n, s)) for n, s in enumerate((store, other))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads)
    assert store.counters(["all", "w0", "w1"]) == {"all": 100, "w0": 25, "w1": 25}


# -- SQLite: one statement per change, one read ----------------------------------------------------------

def test_sqlite_moves_each_counter_with_one_upsert_and_reads_them_in_one_select(store, store_database):
    if store_database.kind != "sqlite":
        pytest.skip("SQLite's statements")
    assert isinstance(store, SQLiteStore)
    people = store.collection(PEOPLE)
    doc = people.insert(person(1))
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        people.replace(doc, moved(a=1, b=-1))
        writes = [s for s in statements if "counters" in s]
        assert len(writes) == 2 and all(s.startswith("INSERT INTO counters") for s in writes), statements
        statements.clear()
        assert store.counters(["a", "b", "c"]) == {"a": 1, "b": -1, "c": 0}
        assert [s for s in statements if "counters" in s] == [
            "SELECT name, value FROM counters WHERE name IN ('a', 'b', 'c')"], statements
    finally:
        store.conn.set_trace_callback(None)
    plan = store.explain_counters(["a", "b", "c"])
    assert any("USING PRIMARY KEY" in step for step in plan) and not any("SCAN counters" in step for step in plan), plan


def test_sqlite_reads_many_names(store, store_database):
    if store_database.kind != "sqlite":
        pytest.skip("SQLite's parameters")
    names = [f"n{i}" for i in range(1200)]
    store.adjust_counters([CounterChange(name, 1) for name in names[::2]])
    values = store.counters(names)
    assert len(values) == 1200 and sum(values.values()) == 600 and values["n0"] == 1 and values["n1"] == 0


# -- MongoDB: the changes wait in the document until they are applied ------------------------------------

@pytest.fixture
def mongo_store(store, store_database) -> MongoStore:
    if store_database.kind not in ("mongomock", "mongodb"):
        pytest.skip("the MongoDB adapter's pending counter operations")
    return store


def cut_before_settling(store: MongoStore, monkeypatch) -> None:
    """The process dies right after its document write: nothing settles what it stored."""
    monkeypatch.setattr(store, "settle_written", lambda *args, **kwargs: None)


def pending(store: MongoStore, spec: CollectionSpec, doc_id: str) -> list[dict]:
    return store.collection(spec).raw.find_one({"_id": doc_id}).get(COUNTER_OPS, [])


def test_a_write_cut_before_settling_is_counted_once_by_the_next_read(mongo_store, reopen_store, monkeypatch):
    cut_before_settling(mongo_store, monkeypatch)
    people = mongo_store.collection(PEOPLE)
    people.insert(person(1), moved(a=1, b=2))
    assert [(op["name"], op["delta"]) for op in pending(mongo_store, PEOPLE, "p1")] == [("a", 1), ("b", 2)]
    # Never handed out, pending or not.
    assert people.get("p1") == {**person(1), "_rev": 1}
    assert people.find(Query()) == [{**person(1), "_rev": 1}]
    # The next process settles them when it reads, exactly once.
    reader = reopen_store(outbox=(PEOPLE, THINGS))
    assert reader.counters(["a", "b"]) == {"a": 1, "b": 2}
    assert COUNTER_OPS not in people.raw.find_one({"_id": "p1"})
    assert reader.counters(["a", "b"]) == mongo_store.counters(["a", "b"]) == {"a": 1, "b": 2}


def test_a_write_cut_while_settling_is_counted_once(mongo_store, monkeypatch):
    cut_before_settling(mongo_store, monkeypatch)
    mongo_store.collection(PEOPLE).insert(person(1), moved(a=1, b=1))
    first, _ = pending(mongo_store, PEOPLE, "p1")
    mongo_store._apply(first)  # applied, then the process died
    assert mongo_store.counters(["a", "b"]) == {"a": 1, "b": 1}
    assert mongo_store.settle_counters() == 0


def test_one_operation_settled_twice_side_by_side_counts_once(mongo_store, store_database, reopen_store,
                                                              monkeypatch):
    other = reopen_store(outbox=(PEOPLE, THINGS))
    cut_before_settling(mongo_store, monkeypatch)
    mongo_store.collection(THINGS).insert({"id": "t1"}, moved(a=1, b=1))
    mongo_store.collection(THINGS).insert({"id": "t2"}, moved(a=1))
    ops = pending(mongo_store, THINGS, "t1")
    raw = mongo_store.collection(THINGS).raw
    if store_database.kind == "mongodb":  # a real server: two processes settling at once
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def settle(settler: MongoStore) -> None:
            try:
                start.wait(10)
                settler.settle(raw, "t1", ops)
                settler.settle_counters()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=settle, args=(s,)) for s in (mongo_store, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors and not any(thread.is_alive() for thread in threads)
    else:  # the fake: both settle what they read before either wrote
        mongo_store.settle(raw, "t1", ops)
        other.settle(other.collection(THINGS).raw, "t1", ops)
    assert other.counters(["a", "b"]) == mongo_store.counters(["a", "b"]) == {"a": 2, "b": 1}


def test_many_operations_creating_one_counter_at_once_are_all_counted(mongo_store, store_database, reopen_store):
    if store_database.kind != "mongodb":
        pytest.skip("two upserts racing to create one counter need a real server")
    stores = [mongo_store, reopen_store(outbox=(PEOPLE, THINGS))]
    start = threading.Barrier(8)

    def apply(n: int) -> None:
        start.wait(10)
        for i in range(10):
            stores[n % 2]._apply({"id": f"op-{n}-{i}", "name": f"fresh{i}", "delta": 1})

    threads = [threading.Thread(target=apply, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert mongo_store.counters([f"fresh{i}" for i in range(10)]) == {f"fresh{i}": 8 for i in range(10)}


def test_replace_keeps_the_unsettled_operations_of_the_stored_document(mongo_store, monkeypatch):
    people = mongo_store.collection(PEOPLE)
    with monkeypatch.context() as cut:
        cut_before_settling(mongo_store, cut)
        doc = people.insert(person(1), moved(a=1))
        doc = people.replace({**doc, "name": "x"})  # moves nothing, keeps what is pending
        doc = people.replace({**doc, "name": "y"}, moved(b=1))
        # A document handed back with the adapter's field in it cannot overwrite it.
        doc = people.replace({**doc, COUNTER_OPS: [{"id": "forged", "name": "a", "delta": 100}]})
    assert [op["name"] for op in pending(mongo_store, PEOPLE, "p1")] == ["a", "b"]
    assert people.get("p1") == {**person(1), "name": "y", "_rev": 4}
    people.replace(doc, moved(b=1))  # settles its own operation; the older ones wait for a read
    assert [op["name"] for op in pending(mongo_store, PEOPLE, "p1")] == ["a", "b"]
    assert mongo_store.counters(["a", "b"]) == {"a": 1, "b": 2}
    assert COUNTER_OPS not in people.raw.find_one({"_id": "p1"})


def test_a_move_cut_before_settling_is_counted_once(mongo_store, monkeypatch):
    with monkeypatch.context() as cut:
        cut_before_settling(mongo_store, cut)
        mongo_store.adjust_counters(moved(a=2, b=1))
        mongo_store.set_counters({"c": 5})
    assert mongo_store.db[COUNTER_MOVES].count_documents({}) == 2
    assert mongo_store.counters(["a", "b", "c"]) == {"a": 2, "b": 1, "c": 5}
    assert mongo_store.db[COUNTER_MOVES].count_documents({}) == 0
    mongo_store.adjust_counters(moved(c=1))
    assert mongo_store.counters(["a", "b", "c"]) == {"a": 2, "b": 1, "c": 6}
    assert mongo_store.db[COUNTER_MOVES].count_documents({}) == 0


def test_a_settling_cut_by_the_server_leaves_the_write_done_and_the_next_read_exact(mongo_store, monkeypatch):
    people = mongo_store.collection(PEOPLE)
    with monkeypatch.context() as outage:
        def unreachable(op):
            raise AutoReconnect("connection lost")

        outage.setattr(mongo_store, "_apply", unreachable)
        doc = people.insert(person(1), moved(a=1))
    assert doc["_rev"] == 1 and people.get("p1") == {**person(1), "_rev": 1}
    assert len(pending(mongo_store, PEOPLE, "p1")) == 1
    assert mongo_store.counters(["a"]) == {"a": 1}


def test_a_deleted_document_leaves_its_unsettled_operations_counted(mongo_store, monkeypatch):
    people = mongo_store.collection(PEOPLE)
    with monkeypatch.context() as cut:
        cut_before_settling(mongo_store, cut)
        people.insert(person(1), moved(a=1))
    assert people.delete("p1") is True and people.get("p1") is None
    assert mongo_store.counters(["a"]) == {"a": 1}


def test_a_counter_remembers_its_last_operations_only(mongo_store, monkeypatch):
    monkeypatch.setattr(mongo, "COUNTER_OPS_KEPT", 3)
    ops = [{"id": f"op{i}", "name": "a", "delta": 1} for i in range(5)]
    for op in ops:
        mongo_store._apply(op)
    for op in ops[2:]:  # among the last three: recognised
        mongo_store._apply(op)
    assert mongo_store.db[COUNTERS].find_one({"_id": "a"}) == {"_id": "a", "value": 5, "ops": ["op2", "op3", "op4"]}


def test_the_search_for_pending_operations_is_read_from_an_index(mongo_store, store_database):
    if store_database.kind != "mongodb":
        pytest.skip("mongomock cannot explain a query; the real MongoDB runs this when MONGO_URL is set")
    for i in range(20):
        mongo_store.collection(PEOPLE).insert(person(i), moved(a=1))
        mongo_store.collection(THINGS).insert({"id": f"t{i}"})
    plans = mongo_store.explain_counters(["a", "b"])
    assert {PEOPLE.name, THINGS.name, COUNTER_MOVES, COUNTERS} <= set(plans)
    for name, plan in plans.items():
        winning = plan["queryPlanner"]["winningPlan"]
        assert "COLLSCAN" not in str(winning), (name, winning)
        if name != COUNTERS:
            assert "ix_counter_ops" in str(winning), (name, winning)
