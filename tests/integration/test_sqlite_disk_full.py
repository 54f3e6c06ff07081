"""The SQLite adapter on a full disk, without mounting one: SQLite's own
page limit (``PRAGMA max_page_count``) makes every write that needs another
page fail with SQLITE_FULL, "database or disk is full", exactly as a full
file system does (the fault suite fills a real one:
tests/faults/test_disk_faults.py). A real SQLite file; nothing faked but
where the limit comes from."""
from __future__ import annotations

import pytest

from common.messaging import make_event
from common.storage import CollectionSpec, Query, StorageUnavailable
from common.storage.sqlite import SQLiteStore

THINGS = CollectionSpec("things")


@pytest.fixture
def store(tmp_path):
    instance = SQLiteStore(tmp_path / "full.sqlite3")
    yield instance
    instance.close()


def fill_up(store: SQLiteStore) -> None:
    """No page more for this thread's connection (the one every call of this test uses)."""
    conn = store.conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages}")


def write(things, n: int) -> None:
    event = make_event("thing.created", {"n": n, "relleno": "x" * 3000}, "svc")
    things.insert({"id": f"t{n}", "n": n, "relleno": "y" * 3000}, [event.to_outbox()])


def test_a_write_on_a_full_disk_is_unavailable_leaves_nothing_and_works_again_once_there_is_space(store):
    things = store.collection(THINGS)
    write(things, 0)
    fill_up(store)
    with pytest.raises(StorageUnavailable, match="database or disk is full"):
        for n in range(1, 50):  # the last page may still have room for one
            write(things, n)
    written = things.count(Query())
    # The refused write took neither its document nor its event; reads still work.
    assert len(store.pending_events(1000)) == written
    assert things.get("t0")["n"] == 0
    fill_up(store)  # the limit is the connection's, and the store opens a new one after an error
    with pytest.raises(StorageUnavailable, match="database or disk is full"):
        write(things, 100)
    assert things.count(Query()) == written
    store.close()  # space again: a connection without the limit
    write(things, 100)
    store.mark_published([m.id for m in store.pending_events(1000)])
    assert store.pending_events(1000) == [] and things.count(Query()) == written + 1
