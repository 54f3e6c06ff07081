"""The storage contract: every adapter must behave the same way."""
from __future__ import annotations

import pytest

from common.storage import CollectionSpec, DuplicateKeyError, Index, OutboxMessage, Query

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
