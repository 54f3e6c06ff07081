"""Fault-injection fixtures: one whole system per test module (every
Procfile.dev line as a real process, its own exchange and data directory),
the shared RabbitMQ driven into faults and always restored, a tap on the
exchange per test, and the figures written to docs/reliability-figures.json
at the end of the session."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest

from harness import Account, Driver, System, new_categoria, wait_until

from .broker import Broker
from .checker import Checker
from .figures import Figures
from .tap import Tap


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "faults: fault injection against the real RabbitMQ and the whole system (make test-faults)")


def faults_requested(config) -> bool:
    """Only on purpose: ``-m faults`` (what ``make test-faults`` runs) or RUN_FAULTS=1."""
    expression = config.getoption("markexpr") or ""
    return ("faults" in expression and "not faults" not in expression) or os.environ.get("RUN_FAULTS") == "1"


def pytest_collection_modifyitems(config, items):
    # These tests stop the shared RabbitMQ for 30 s, block it and cut its
    # connections: a plain `pytest` (anyone's, at any time) must not do that.
    if faults_requested(config):
        return
    skip = pytest.mark.skip(reason="fault injection disrupts the shared RabbitMQ: run it on purpose with "
                                   "`make test-faults` (pytest tests/faults -m faults)")
    for item in items:
        if "faults" in item.keywords:
            item.add_marker(skip)


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


@pytest.fixture(scope="session")
def figures():
    collected = Figures()
    yield collected
    collected.write()


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
def world(request, tmp_path_factory, broker):
    """The whole system for one test module, with ``SYSTEM_ENV`` from the module."""
    env = getattr(request.module, "SYSTEM_ENV", {})
    system = System.launch(tmp_path_factory.mktemp("faults"), **env)
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
