"""The services tier: every use case of every service (its ``services.py``)
against the in-memory store, with no Flask, no database and no broker.

This is where a new rule is tested first: a test calls a use case with plain
values and repositories built on ``store``, then looks at what it returned,
what it stored and which events it recorded in the outbox.

What is faked, and why:

- the database: ``store`` is a fresh ``MemoryStore`` per test, told which
  collections carry an outbox by the test's ``outbox`` marker (usually a
  module's ``pytestmark = pytest.mark.outbox(*OUTBOX)`` with the service's
  own ``repository.OUTBOX``). Like MongoDB it relays only those, and an event
  written anywhere else fails the test at once instead of being lost;
- the broker: nothing is published. ``outbox`` reads the events a use case
  recorded, as (tipo, datos) pairs, exactly what the relay would publish;
  an incoming event is built with ``common.messaging.make_event`` and handed
  to the use case its handler calls;
- the clock, on request: ``clock`` fixes what ``utc_now()`` returns in every
  loaded module, so instants, deadlines and orderings can be asserted;
- password hashing: argon2id with its cheapest parameters (the same hashes
  and checks, a thousand times faster), so account use cases stay fast;
- every test of the tier is marked ``services`` (``make test-services``), and
  opening a SQLite database or a broker connection from it is an error.
"""
from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

import common.clock
from common.messaging import Event
from common.storage import CollectionSpec
from common.storage.memory import MemoryStore

HERE = Path(__file__).resolve().parent
T0 = datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.services)


# -- the store and its outbox --------------------------------------------------

@pytest.fixture
def memory_store() -> Callable[..., MemoryStore]:
    """``memory_store(*outbox_specs)``: a fresh, private in-memory store whose
    outbox holds the events written into those collections."""
    return lambda *outbox: MemoryStore(outbox=outbox)


@pytest.fixture
def store(request, memory_store) -> MemoryStore:
    """A fresh in-memory store, told the collections the test's ``outbox``
    markers name (function, class or module)."""
    specs: dict[str, CollectionSpec] = {}
    for mark in request.node.iter_markers("outbox"):
        for spec in mark.args:
            specs.setdefault(spec.name, spec)
    return memory_store(*specs.values())


class Outbox:
    """The events recorded in a store's outbox and not yet published, oldest
    first, decoded as ``(tipo, datos)`` pairs."""

    def __init__(self, store: MemoryStore):
        self.store = store

    def messages(self) -> list[Event]:
        """The pending events, whole (id, origen, correlation_id...)."""
        return [Event.parse(m.body) for m in self.store.pending_events(limit=100_000)]

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """What is pending, left in place."""
        return [(e.tipo, e.datos) for e in self.messages()]

    def tipos(self) -> list[str]:
        return [tipo for tipo, _ in self.events()]

    def take(self) -> list[tuple[str, dict[str, Any]]]:
        """What is pending, then marked published: the next call sees only
        what was recorded after this one (say, after a test's setup)."""
        pending = self.store.pending_events(limit=100_000)
        self.store.mark_published(m.id for m in pending)
        return [(e.tipo, e.datos) for e in (Event.parse(m.body) for m in pending)]

    def clear(self) -> None:
        self.take()


@pytest.fixture
def outbox(store) -> Outbox:
    """The events use cases recorded in ``store`` (see ``Outbox``)."""
    return Outbox(store)


@pytest.fixture
def outbox_of() -> Callable[[MemoryStore], Outbox]:
    """``outbox_of(a_store)``: the ``Outbox`` of a store the test built itself
    with ``memory_store``."""
    return Outbox


# -- the clock -----------------------------------------------------------------

class Clock:
    """What ``utc_now()`` returns while the ``clock`` fixture is active: the
    same instant on every reading until ``advance`` or ``set`` moves it."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Move forward by ``delta`` or by ``timedelta(**parts)``; the new instant."""
        self.now += delta if delta is not None else timedelta(**parts)
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """A fixed clock starting at ``T0`` (2026-11-01 10:00 UTC): it replaces
    ``utc_now`` in every product module that imported it."""
    fixed = Clock(T0)
    original = common.clock.utc_now
    for module in list(sys.modules.values()):
        if getattr(module, "utc_now", None) is original:
            monkeypatch.setattr(module, "utc_now", fixed)
    return fixed


# -- what stays out of the tier ------------------------------------------------

@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    from argon2 import PasswordHasher

    from common import passwords

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    passwords._dummy_hash.cache_clear()
    yield
    passwords._dummy_hash.cache_clear()


@pytest.fixture(autouse=True)
def _no_database_or_broker(monkeypatch):
    import sqlite3

    def refuse(what: str):
        def refused(*args, **kwargs):
            raise RuntimeError(f"the services tier runs without {what}: use the store fixture")
        return refused

    monkeypatch.setattr(sqlite3, "connect", refuse("SQLite"))
    try:
        import pika
    except ImportError:  # pragma: no cover - pika is a dependency of every service
        return
    monkeypatch.setattr(pika, "BlockingConnection", refuse("a broker"))
    monkeypatch.setattr(pika, "SelectConnection", refuse("a broker"))
