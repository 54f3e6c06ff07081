"""Fault-injection fixtures: one whole system per test module (every
Procfile.dev line as a real process, its own exchange and data directory),
the shared RabbitMQ driven into faults and always restored, a tap on the
exchange per test, and the figures written to docs/reliability-figures.json
at the end of a session that passed (see figures.py).

The system runs on SQLite, or on MongoDB when the environment says so
(``MONGO_URL``, or each service's ``*_MONGO_URL``: see harness/system.py);
a fault that acts on a service's SQLite file is skipped, saying so, on
MongoDB."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness import Account, Driver, NoSQLiteFile, System, new_categoria, wait_until
from tests.suite_run import SuiteRun

from .broker import Broker
from .checker import VERDICTS, Checker
from .figures import Figures
from .tap import Tap

_FIGURES = Figures()
_RUN = SuiteRun(Path(__file__).parent)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "faults: fault injection against the real RabbitMQ and the whole system (make test-faults)")


def faults_requested(config) -> bool:
    """Only on purpose: ``-m faults`` (what ``make test-faults`` runs) or RUN_FAULTS=1."""
    expression = config.getoption("markexpr") or ""
    return ("faults" in expression and "not faults" not in expression) or os.environ.get("RUN_FAULTS") == "1"


def pytest_collection_modifyitems(config, items):
    refuse_vague_xfails(item for item in items if "faults" in item.keywords)
    # These tests stop the shared RabbitMQ for 30 s, block it and cut its
    # connections: a plain `pytest` (anyone's, at any time) must not do that.
    if faults_requested(config):
        return
    skip = pytest.mark.skip(reason="fault injection disrupts the shared RabbitMQ: run it on purpose with "
                                   "`make test-faults` (pytest tests/faults -m faults)")
    for item in items:
        if "faults" in item.keywords:
            item.add_marker(skip)


VAGUE_XFAIL = pytest.StashKey[str]()


def vague_xfail(item) -> str | None:
    """Why an xfail of the fault suite names no exact failure, or None. It must
    be strict and name the checker's verdict it expects (``raises=Lost``...):
    with ``raises=AssertionError``, or none, a harness that times out or
    breaks would pass as "known limit reproduced"."""
    for mark in item.iter_markers("xfail"):
        raises = mark.kwargs.get("raises")
        if not mark.kwargs.get("strict") or raises not in VERDICTS.values():
            return (f"{item.nodeid}: an xfail in the fault suite must be strict and name the exact failure it "
                    f"expects, one of {', '.join(v.__name__ for v in VERDICTS.values())} "
                    f"(tests/faults/checker.py), not raises={raises!r}")
    return None


def refuse_vague_xfails(items) -> None:
    """Such a test fails at setup instead of running under its xfail."""
    for item in items:
        problem = vague_xfail(item)
        if problem is not None:
            item.own_markers[:] = [m for m in item.own_markers if m.name != "xfail"]
            item.stash[VAGUE_XFAIL] = problem


def pytest_runtest_setup(item):
    problem = item.stash.get(VAGUE_XFAIL, None)
    if problem is not None:
        pytest.fail(problem, pytrace=False)


def pytest_runtest_logreport(report):
    _FIGURES.observe(report)


def pytest_deselected(items):
    _RUN.deselect(items)


def pytest_sessionfinish(session, exitstatus):
    _RUN.finish(session)


def pytest_unconfigure(config):
    # After every sessionfinish hook: the check for processes left behind can still fail the run.
    _FIGURES.write(session_passed=_RUN.passed(), whole_suite=_RUN.whole(config))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    # A fault on a SQLite file (locked, read-only) has nothing to act on when
    # the services run on MongoDB: the launcher says so (System.db_path).
    try:
        return (yield)
    except NoSQLiteFile as exc:
        pytest.skip(f"this fault acts on a SQLite file: {exc}")


@pytest.fixture(scope="session")
def broker():
    """The shared broker; whatever happens, it is left running and unblocked."""
    instance = Broker()
    instance.restore()
    if not instance.answers():
        pytest.fail("RabbitMQ on 127.0.0.1:5672 accepts no AMQP connection; the fault suite needs a healthy broker")
    try:
        yield instance
    finally:
        instance.restore()


@pytest.fixture
def figures(request, world):
    """Where the test records its scenario's figures (kept only if the session passes)."""
    return _FIGURES.for_test(request.node.nodeid, world.system.storage)


@dataclass
class World:
    system: System
    api: Driver
    agentes: list[Account]
    staff_token: str
    extra: dict = field(default_factory=dict)

    def clientes(self, n: int, nombre: str = "Carga") -> list[Account]:
        return [self.api.new_cliente(nombre, apellidos="Fallos") for _ in range(n)]

    def checker(self, scenario: str, tap: Tap, clientes: list[Account], categoria: str) -> Checker:
        return Checker(scenario, self.api, tap, clientes, self.staff_token, categoria)


def build_world(system: System) -> World:
    api = Driver(system.urls)
    agentes = [api.new_empleado("agente", [], nombre=f"Agente{i}", apellidos="Fallos") for i in range(2)]
    # The employees reached resolucion once an incident gets assigned.
    cliente = api.new_cliente("Preparacion", apellidos="Fallos")
    categoria = new_categoria("faults")
    opened = api.open_incidencia(cliente, categoria)
    assert opened.status_code == 201, opened.text
    staff_token = agentes[0].token
    wait_until(lambda: api.staff_incidencias(staff_token, categoria).get(opened.json()["id"], {}).get("estado")
               == "asignada", timeout=30, interval=0.1, message="the system assigns incidents")
    return World(system, api, agentes, staff_token)


@pytest.fixture(scope="module")
def system_env(request) -> dict[str, str]:
    """What a module's system starts with on top of the harness's environment:
    the module's ``SYSTEM_ENV``. A module overrides this fixture when the
    values exist only at run time (the port of a proxy it starts)."""
    return getattr(request.module, "SYSTEM_ENV", {})


@pytest.fixture(scope="module")
def world(tmp_path_factory, broker, system_env):
    """The whole system for one test module, with ``system_env``."""
    system = System.launch(tmp_path_factory.mktemp("faults"), **system_env)
    instance = None
    try:
        instance = build_world(system)
        yield instance
    finally:
        if instance is not None:
            instance.api.close()
        system.dispose()


@pytest.fixture
def tap(world):
    instance = Tap(world.system.exchange).start()
    yield instance
    instance.stop()


@pytest.fixture
def alive(world):
    """After the test, every process of the system must still be running."""
    yield
    world.system.check_alive()
