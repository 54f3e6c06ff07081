"""The storage contract: every adapter must behave the same way."""
from __future__ import annotations

import sqlite3

import pytest

from common.storage import (
    CollectionSpec, DuplicateKeyError, Index, InvalidData, OutboxMessage, Query, StorageUnavailable,
)
from common.storage.mongo import HEALTH_COLLECTION, MongoCollection, MongoStore
from common.storage.sqlite import SQLiteCollection, SQLiteStore

PEOPLE = CollectionSpec(
    "people",
    (Index(("email",), unique=True), Index(("team.id", "created")), Index(("tenant", "key"), unique=True)),
)
THINGS = CollectionSpec("things")

pytestmark = pytest.mark.outbox(PEOPLE, THINGS)


def person(i: int, **extra):
    return {
        "id": f"p{i:03d}", "email": f"user{i}@example.com", "name": f"User {i}",
        "team": {"id": "t1" if i % 2 else "t2"}, "created": f"2026-01-{i % 28 + 1:02d}T00:00:00Z",
        "active": i % 3 != 0, **extra,
    }


def event(n: int) -> OutboxMessage:
    return OutboxMessage(f"e{n}", "thing.happened", f'{{"n": {n}}}', "corr")


def test_insert_then_get_round_trips_nested_documents(store):
    people = store.collection(PEOPLE)
    doc = person(1, tags=["a", "b"], nested={"deep": {"x": 1.5, "ok": True, "none": None}})
    stored = people.insert(doc)
    assert stored["_rev"] == 1
    loaded = people.get("p001")
    assert loaded == {**doc, "_rev": 1}
    assert people.get("missing") is None


def test_unique_index_rejects_duplicates_and_names_the_field(store):
    people = store.collection(PEOPLE)
    people.insert(person(1))
    with pytest.raises(DuplicateKeyError) as info:
        people.insert({**person(2), "email": "user1@example.com"})
    assert info.value.fields == ("email",)
    with pytest.raises(DuplicateKeyError) as info:
        people.insert({**person(1), "email": "other@example.com"})
    assert info.value.fields == ("id",)
    assert people.count(Query()) == 1


def test_unique_index_ignores_null_values(store):
    people = store.collection(PEOPLE)
    people.insert({**person(1), "email": None})
    people.insert({**person(2), "email": None})
    assert people.count(Query(equals={"email": None})) == 2


def test_compound_unique_index(store):
    people = store.collection(PEOPLE)
    people.insert(person(1, tenant="a", key="k"))
    people.insert(person(2, tenant="b", key="k"))
    with pytest.raises(DuplicateKeyError) as info:
        people.insert(person(3, tenant="a", key="k"))
    assert info.value.fields == ("tenant", "key")


def test_replace_is_a_compare_and_set_on_the_revision(store):
    people = store.collection(PEOPLE)
    first = people.insert(person(1))
    second = people.replace({**first, "name": "Renamed"})
    assert second["_rev"] == 2
    assert people.replace({**first, "name": "Stale"}) is None
    assert people.get("p001")["name"] == "Renamed"
    with pytest.raises(DuplicateKeyError):
        other = people.insert(person(2))
        people.replace({**other, "email": "user1@example.com"})
    assert people.get("p002")["email"] == "user2@example.com"


def test_find_filters_sorts_and_paginates_stably(store):
    people = store.collection(PEOPLE)
    for i in range(1, 21):
        people.insert(person(i))
    team1 = people.find(Query(equals={"team.id": "t1"}, sort=(("created", -1),)))
    created = [p["created"] for p in team1]
    assert created == sorted(created, reverse=True)
    assert {p["team"]["id"] for p in team1} == {"t1"}
    assert len(team1) == 10
    pages = [people.find(Query(sort=(("active", 1),)), skip=s, limit=7) for s in (0, 7, 14)]
    ids = [p["id"] for page in pages for p in page]
    assert len(ids) == 20 and len(set(ids)) == 20
    assert people.count(Query(equals={"active": True})) == len([i for i in range(1, 21) if i % 3])
    assert people.count(Query(any_of={"id": ["p001", "p002", "zzz"]})) == 2
    assert people.count(Query(any_of={"id": []})) == 0
    assert people.count(Query(less_than={"created": "2026-01-05"})) == 3
    assert people.count(Query(at_least={"created": "2026-01-20"})) == 2


def test_contains_matches_the_documents_whose_list_holds_the_value(store):
    people = store.collection(PEOPLE)
    people.insert(person(1, tags=["vip", "envíos"]))
    people.insert(person(2, tags=["envíos"]))
    people.insert(person(3, tags=[]))
    people.insert(person(4, tags="vip"))  # not a list: holds nothing
    people.insert(person(5))
    def ids(query: Query) -> list[str]:
        return [p["id"] for p in people.find(query)]
    assert ids(Query(contains={"tags": "envíos"}, sort=(("email", 1),))) == ["p001", "p002"]
    assert ids(Query(contains={"tags": "vip"})) == ["p001"]
    assert ids(Query(contains={"tags": "VIP"})) == []
    assert ids(Query(contains={"tags": "vip"}, equals={"team.id": "t2"})) == []
    assert people.count(Query(contains={"tags": "envíos"}, equals={"team.id": "t1"})) == 1
    assert ids(Query(contains={"missing": "vip"})) == []
    with pytest.raises(TypeError):
        Query(contains={"tags": None})
    with pytest.raises(TypeError):
        Query(contains={"tags": {"$ne": ""}})


def test_search_is_case_insensitive_substring_and_literal(store):
    people = store.collection(PEOPLE)
    people.insert(person(1, name="Ana María"))
    people.insert(person(2, name="100% real_name"))
    people.insert(person(3, name="Bob"))
    assert [p["id"] for p in people.find(Query(search=(("name", "email"), "ANA")))] == ["p001"]
    assert [p["id"] for p in people.find(Query(search=(("name",), "0% r")))] == ["p002"]
    assert people.find(Query(search=(("name",), "_"))) == [people.get("p002")]
    assert people.find(Query(search=(("name",), ".*"))) == []
    assert [p["id"] for p in people.find(Query(search=(("email",), "user3@")))] == ["p003"]


def test_operator_like_values_are_matched_literally(store):
    people = store.collection(PEOPLE)
    people.insert(person(1))
    with pytest.raises(TypeError):
        people.find(Query(equals={"email": {"$ne": None}}))
    with pytest.raises(TypeError):
        people.find(Query(any_of={"email": [{"$gt": ""}]}))
    assert people.find(Query(equals={"email": "' OR 1=1 --"})) == []


def test_events_are_stored_with_the_write_and_released_once_published(store):
    people = store.collection(PEOPLE)
    doc = people.insert(person(1), events=[event(1), event(2)])
    people.replace({**doc, "name": "x"}, events=[event(3)])
    pending = store.pending_events()
    assert [e.id for e in pending] == ["e1", "e2", "e3"]
    assert pending[0].routing_key == "thing.happened" and pending[0].body == '{"n": 1}'
    store.mark_published(["e1", "e3"])
    assert [e.id for e in store.pending_events()] == ["e2"]
    store.mark_published(["e2", "unknown"])
    assert store.pending_events() == []
    # Publishing state never leaks into the document.
    assert set(people.get("p001")) == set(person(1)) | {"_rev"}


def test_events_of_every_declared_collection_are_relayed(store):
    store.collection(PEOPLE).insert(person(1), events=[event(1)])
    store.collection(THINGS).insert({"id": "t1"}, events=[event(2)])
    assert sorted(e.id for e in store.pending_events()) == ["e1", "e2"]
    assert len(store.pending_events(limit=1)) == 1
    store.mark_published(["e1", "e2"])
    assert store.pending_events() == []


def test_a_store_relays_events_another_process_wrote(store, reopen_store):
    # The relay of a service runs in a process that never opens the
    # collections the web process writes: it is told which carry an outbox.
    relay = reopen_store(outbox=(PEOPLE, THINGS))
    doc = store.collection(PEOPLE).insert(person(1), events=[event(1)])
    store.collection(PEOPLE).replace({**doc, "name": "x"}, events=[event(2)])
    store.collection(THINGS).insert({"id": "t1"}, events=[event(3)])
    assert sorted(e.id for e in relay.pending_events()) == ["e1", "e2", "e3"]
    relay.mark_published(["e1", "e3"])
    assert [e.id for e in store.pending_events()] == ["e2"]
    assert [e.id for e in relay.pending_events()] == ["e2"]
    relay.mark_published(["e2"])
    assert store.pending_events() == [] and relay.pending_events() == []
    # Another process sees the documents too, and its writes are checked
    # against the same revisions and unique indexes.
    other = reopen_store(outbox=(PEOPLE,)).collection(PEOPLE)
    assert other.get("p001")["name"] == "x"
    assert other.replace({**doc, "name": "stale"}) is None
    with pytest.raises(DuplicateKeyError):
        other.insert({**person(2), "email": "user1@example.com"})


def test_a_rejected_write_keeps_no_event(store):
    people = store.collection(PEOPLE)
    first = people.insert(person(1))
    with pytest.raises(DuplicateKeyError):
        people.insert({**person(2), "email": "user1@example.com"}, events=[event(9)])
    assert people.replace({**first, "_rev": 99}, events=[event(10)]) is None
    assert store.pending_events() == []


def test_delete(store):
    people = store.collection(PEOPLE)
    people.insert(person(1))
    assert people.delete("p001") is True
    assert people.delete("p001") is False
    assert people.get("p001") is None


def test_opening_a_collection_twice_is_idempotent(store):
    store.collection(PEOPLE).insert(person(1))
    again = store.collection(PEOPLE)
    assert again.get("p001")["email"] == "user1@example.com"
    store.ping()


def test_replace_removes_the_keys_the_new_version_no_longer_has(store):
    people = store.collection(PEOPLE)
    first = people.insert(person(1, nickname="Pepe", nested={"keep": 1, "drop": 2}), events=[event(1)])
    replaced = {k: v for k, v in first.items() if k != "nickname"}
    replaced["nested"] = {"keep": 1}
    second = people.replace(replaced, events=[event(2)])
    assert people.get("p001") == {**replaced, "_rev": 2} == second
    assert "nickname" not in people.get("p001")
    # The events of both writes are still pending, in order.
    assert [e.id for e in store.pending_events()] == ["e1", "e2"]
    # Values that look like operators or field paths are stored as they are.
    third = people.replace({**second, "name": "$name", "nested": {"root": "$$ROOT", "op": ["$set", {"x": "$x"}]}})
    assert people.get("p001") == {**third}
    assert people.find(Query(equals={"name": "$name"})) == [third]


def test_a_search_text_with_control_characters_is_refused(store):
    people = store.collection(PEOPLE)
    people.insert(person(1))
    for text in ("a\x00b", "\x00", "line\nbreak", "tab\t", "\x1b[31m", "\x7f", "\x85"):
        with pytest.raises(InvalidData, match="control characters"):
            people.find(Query(search=(("name",), text)))
    assert [p["id"] for p in people.find(Query(search=(("name",), "User 1")))] == ["p001"]


def test_the_id_breaks_ties_in_the_direction_of_the_last_sort_key(store):
    people = store.collection(PEOPLE)
    for i in (3, 1, 4, 2):
        people.insert({**person(i), "created": "2026-01-01T00:00:00Z"})
    ids = lambda q: [p["id"] for p in people.find(q)]  # noqa: E731
    assert ids(Query(sort=(("created", 1),))) == ["p001", "p002", "p003", "p004"]
    assert ids(Query(sort=(("created", -1),))) == ["p004", "p003", "p002", "p001"]
    assert ids(Query()) == ["p001", "p002", "p003", "p004"]
    assert [p["id"] for s in range(4) for p in people.find(Query(sort=(("created", -1),)), skip=s, limit=1)] == \
        ["p004", "p003", "p002", "p001"]


CHANGING_V1 = CollectionSpec("changing", (Index(("team", "created")), Index(("code",))))
CHANGING_V2 = CollectionSpec("changing", (Index(("team", "created"), descending=("created",)),
                                          Index(("code",), unique=True)))


def built_indexes(collection) -> dict[str, object] | None:
    """Index name -> its definition as the database holds it (None: the
    adapter keeps no indexes)."""
    if isinstance(collection, SQLiteCollection):
        with collection.store.read() as conn:
            return {name.removeprefix(f"{collection.spec.name}_"): sql for name, sql in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    if isinstance(collection, MongoCollection):
        return {ix["name"]: dict(ix["key"]) for ix in collection.raw.list_indexes()}
    return None


def test_a_changed_index_definition_is_migrated_at_start_up(store, reopen_store, caplog):
    old = store.collection(CHANGING_V1)
    old.insert({"id": "a", "team": "t1", "created": "1", "code": "x"})
    old.insert({"id": "b", "team": "t1", "created": "2", "code": "x"})  # breaks v2's unique index
    old.insert({"id": "c", "team": "t2", "created": "3", "code": "y"})
    before = built_indexes(old)
    with caplog.at_level("INFO", logger="common.storage"):
        new = reopen_store().collection(CHANGING_V2)
        rows = new.find(Query(equals={"team": "t1"}, sort=(("created", -1),)))
    assert [r["id"] for r in rows] == ["b", "a"]
    new.insert({"id": "d", "team": "t2", "created": "4", "code": "z"})
    assert new.get("d")["code"] == "z"
    after = built_indexes(new)
    if after is None:
        return
    # The index that can be rebuilt is rebuilt under its name...
    assert after["ix_team__created"] != before["ix_team__created"]
    if isinstance(new, MongoCollection):
        assert after["ix_team__created"] == {"team": 1, "created": -1, "_id": -1}
    else:
        assert "'$.created') DESC, id DESC" in after["ix_team__created"]
    # ...the one the stored documents break stays as it was, and each is said in one line.
    assert after["ix_code"] == before["ix_code"]
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "ix_team__created" in m and "rebuilt" in m]) == 1, messages
    assert len([m for m in messages if "ix_code" in m and "cannot be built" in m]) == 1, messages
    # Opened again, only the index the documents break is reported again.
    caplog.clear()
    with caplog.at_level("INFO", logger="common.storage"):
        reopen_store().collection(CHANGING_V2).get("a")
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "rebuilt" in m], messages
    assert len([m for m in messages if "ix_code" in m]) == 1, messages


def test_ping_proves_the_database_takes_writes(store, store_database):
    store.ping()
    if isinstance(store, SQLiteStore):
        # Another process holding the write lock: every write would wait, then fail.
        other = sqlite3.connect(store.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StorageUnavailable, match="write lock"):
                store.ping()
        finally:
            other.execute("ROLLBACK")
            other.close()
        store.ping()
    elif isinstance(store, MongoStore):
        # It wrote, with the store's write concern (not a mere "ping" command).
        assert store.db[HEALTH_COLLECTION].find_one({"_id": "ping"})["at"] is not None
