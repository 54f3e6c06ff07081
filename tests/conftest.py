"""Fixtures shared by every test tier.

``store`` runs a test against each storage adapter: SQLite in a temporary
file, the MongoDB adapter on mongomock (an in-process fake of the server,
used because no MongoDB server can run on the development machines), the
in-memory adapter and, whenever ``MONGO_URL`` is set, the MongoDB adapter
against that real server in a database of its own.

A store is told which collections carry an outbox: a test (or its module,
through ``pytestmark``) names the specs it writes events into with
``@pytest.mark.outbox(SPEC, ...)``. ``reopen_store(outbox=...)`` opens another
store on the same database, as a second process of the service would.

A run must leave no process behind: at its end, any process it started and
did not stop (a gunicorn a skipped test never stopped, say) is listed, killed,
and fails the run.
"""
from __future__ import annotations

import os
import uuid
from typing import Callable, Iterable

import pytest

from common.storage import CollectionSpec, Store
from common.storage import memory
from common.storage.memory import MemoryStore
from common.storage.mongo import MongoStore
from common.storage.sqlite import SQLiteStore
from harness import System, processes

STORE_KINDS = ["sqlite", "mongomock", "memory"] + (["mongodb"] if os.environ.get("MONGO_URL") else [])


def _real_mongo_url(database: str) -> str:
    from harness.system import database_url

    return database_url(os.environ["MONGO_URL"], database)


def outbox_of(node: pytest.Item) -> tuple[CollectionSpec, ...]:
    """The specs a test's ``outbox`` markers name (its own, its class's, its
    module's), one per collection name: two services' specs of one collection
    (both incident services' ``incidencias``) name the same outbox."""
    specs: dict[str, CollectionSpec] = {}
    for mark in node.iter_markers("outbox"):
        for spec in mark.args:
            specs.setdefault(spec.name, spec)
    return tuple(specs.values())


class StoreDatabase:
    """One test's database on one adapter; every store opened on it sees the
    same documents and the same outbox."""

    def __init__(self, kind: str, tmp_path):
        self.kind = kind
        self.stores: list[Store] = []
        if kind == "sqlite":
            self.path = tmp_path / "test.sqlite3"
        elif kind == "mongomock":
            import mongomock

            self.client = mongomock.MongoClient()
        elif kind == "memory":
            self.name = f"test-{uuid.uuid4().hex[:12]}"
        else:
            self.url = _real_mongo_url(f"test_{uuid.uuid4().hex[:12]}")

    def open(self, outbox: Iterable[CollectionSpec] = ()) -> Store:
        outbox = tuple(outbox)
        if self.kind == "sqlite":
            instance: Store = SQLiteStore(self.path)
        elif self.kind == "mongomock":
            instance = MongoStore("mongodb://localhost/test", client=self.client, outbox=outbox)
        elif self.kind == "memory":
            instance = MemoryStore(self.name, outbox=outbox)
        else:
            instance = MongoStore(self.url, outbox=outbox)
        self.stores.append(instance)
        return instance

    def drop(self) -> None:
        if self.kind == "mongodb" and self.stores:
            first = self.stores[0]
            first.client.drop_database(first.db.name)
        if self.kind == "memory":
            memory.discard(self.name)
        for instance in self.stores:
            instance.close()


@pytest.fixture(params=STORE_KINDS)
def store_database(request, tmp_path):
    database = StoreDatabase(request.param, tmp_path)
    yield database
    database.drop()


@pytest.fixture
def store(request, store_database) -> Store:
    """A store on each adapter, told the collections the test's ``outbox`` markers name."""
    return store_database.open(outbox_of(request.node))


@pytest.fixture
def reopen_store(store, store_database) -> Callable[..., Store]:
    """``reopen_store(outbox=(SPEC, ...))``: another store on ``store``'s
    database, as another process of the service would open it."""
    return store_database.open


# -- nothing left running -------------------------------------------------------------

@pytest.fixture(scope="session")
def system(tmp_path_factory) -> Iterable[System]:
    """The whole system as ``make run`` starts it (``harness.System``), one
    for the tiers that drive it over HTTP (e2e, client); a tier that needs
    its own (the browser's, with the portal's settings) defines its own."""
    instance = System.launch(tmp_path_factory.mktemp("system"))
    try:
        yield instance
    finally:
        instance.dispose()


def pytest_configure(config: pytest.Config) -> None:
    # Before anything starts: every process of the run inherits the mark.
    os.environ[processes.MARK] = uuid.uuid4().hex


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not processes.PROC.is_dir():
        return
    left = processes.still_running(os.getpid(), os.environ[processes.MARK])
    if not left:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = ["the run left these processes running; they are being killed:", *map(str, left)]
    if reporter is not None:
        reporter.write_line("")
        reporter.section("processes left behind", sep="!", red=True, bold=True)
        for line in lines:
            reporter.write_line(line, red=True)
    else:
        print("\n".join(lines))
    processes.stop(left)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
