"""The relay's doorbell: real Unix datagram sockets, real processes, nothing faked."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from common.storage.doorbell import Bell, Listener, address_for
from common.storage.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[2]


def test_a_ring_from_another_process_wakes_the_listener(tmp_path):
    address = address_for(tmp_path / "svc.sqlite3")
    assert address == f"{(tmp_path / 'svc.sqlite3').resolve()}.relay.sock"  # beside the database
    listener = Listener(address)
    try:
        assert listener.wait(0) is False
        subprocess.run([sys.executable, "-c", "import sys; from common.storage.doorbell import Bell; "
                        "Bell(sys.argv[1]).ring()", address], cwd=ROOT, check=True, timeout=30)
        assert listener.wait(30) is True
        assert listener.wait(0) is False  # every pending ring was taken
    finally:
        listener.close()
    assert not os.path.exists(address)


def test_ringing_with_nobody_listening_is_harmless(tmp_path):
    bell = Bell(address_for(tmp_path / "svc.sqlite3"))
    bell.ring()
    bell.ring()  # no socket file, then the same again: nothing raised, nothing created
    assert list(tmp_path.iterdir()) == []


def test_only_one_relay_listens_and_a_dead_ones_socket_is_taken_over(tmp_path):
    address = address_for(tmp_path / "svc.sqlite3")
    first = Listener(address)
    try:
        assert Listener.open(address) is None  # a second relay of the service polls instead
    finally:
        first._socket.close()  # dies without cleaning up: the file stays
    assert os.path.exists(address)
    second = Listener.open(address)
    try:
        assert second is not None
        Bell(address).ring()
        assert second.wait(10) is True
    finally:
        second.close()


def test_a_database_path_too_long_for_a_socket_file_gets_an_abstract_address(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "svc.sqlite3"
    address = address_for(deep)
    assert isinstance(address, bytes) and address.startswith(b"\0")
    assert address_for(deep) == address != address_for(tmp_path / "other.sqlite3")
    listener = Listener(address)
    try:
        Bell(address).ring()
        assert listener.wait(10) is True
    finally:
        listener.close()


def test_a_commit_that_adds_events_rings_and_one_that_does_not_stays_silent(tmp_path):
    from common.messaging import make_event
    from common.storage import CollectionSpec

    store = SQLiteStore(tmp_path / "svc.sqlite3")
    things = store.collection(CollectionSpec("things"))
    listener = Listener(store.relay_address())
    try:
        things.insert({"id": "a"})
        assert listener.wait(0) is False
        things.insert({"id": "b"}, [make_event("thing.created", {}, "svc").to_outbox()])
        assert listener.wait(10) is True
        store.mark_published([m.id for m in store.pending_events()])
        assert listener.wait(0) is False
    finally:
        listener.close()
        store.close()
