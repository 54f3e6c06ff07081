"""The database goes away under a running service: its SQLite file locked
by someone else, or read-only, or its MongoDB unreachable. The service says
it is not ready, refuses writes with 503 problem+json, writes nothing half,
holds the events it consumes, and recovers without a restart."""
from __future__ import annotations

import os
import signal
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import pytest

from harness import free_port, new_categoria, wait_until

from .checker import Expected
from .load import new_marker
from .procfs import amqp_ports, waiting_for_sqlite_lock
from .storage import Gate, chattr_works, sqlite_locked, sqlite_read_only

pytestmark = [pytest.mark.slow, pytest.mark.faults]


def readiness(world, service: str = "apertura"):
    return world.api.call("GET", service, "/salud")


def assert_problem_503(response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 503 and body["type"] and body["title"] and body["detail"]
    assert "Traceback" not in response.text


def assigned_incident(world, checker, cliente) -> str:
    response = checker.open(cliente)
    assert response.status_code == 201, response.text
    incidencia_id = response.json()["id"]
    wait_until(lambda: world.api.customer_incidencias([cliente])[incidencia_id]["estado"] == "asignada", timeout=30,
               message="assigned")
    return incidencia_id


def staff_starts(world, checker, cliente, incidencia_id) -> None:
    mine = world.api.customer_incidencias([cliente])[incidencia_id]
    agente = next(a for a in world.agentes if a.id == mine["asignada_a"]["id"])
    response = checker.transition("resolucion", incidencia_id, "inicio", "en_curso", agente.token)
    assert response.status_code == 200, response.text


def outage_scenario(world, tap, broker, figures, scenario: str, fault: str, outage,
                    outage_is_a_lock: bool = False) -> None:
    """The same checks for every way the SQLite file can become unusable."""
    [cliente] = world.clientes(1)
    checker = world.checker(scenario, tap, [cliente], new_categoria("faults"))
    held = assigned_incident(world, checker, cliente)
    checker.expect(held, Expected("en_curso", 3))
    master = world.system.pid("apertura")
    keys = [new_marker() for _ in range(3)]
    with outage():
        health = readiness(world)
        assert health.status_code == 503, health.text
        assert health.json()["comprobaciones"]["almacenamiento"]["estado"] == "no disponible"
        # Writes are refused, as problem documents, several at once.
        with ThreadPoolExecutor(3) as pool:
            refused = list(pool.map(lambda k: checker.open(cliente, key=k), keys))
        for response in refused:
            assert_problem_503(response)
        # An event apertura must apply arrives meanwhile: held, not dead-lettered,
        # even when the worker's connections are cut while it holds it.
        staff_starts(world, checker, cliente, held)
        worker = world.system.pid("apertura_worker")
        wait_until(lambda: waiting_for_sqlite_lock(worker) or not outage_is_a_lock, timeout=20,
                   message="apertura's consumer holds the event")
        ports = amqp_ports(worker)
        assert broker.close_connections(ports) >= 3
        wait_until(lambda: (now := amqp_ports(worker)) and not now & ports and len(now) >= len(ports),
                   timeout=30, interval=0.2, message="apertura's worker reconnected")
        world.system.check_alive()
        # gunicorn workers that die now are replaced, and boot, though the database is down.
        replaced = world.system.children("apertura")
        for pid in replaced:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not set(world.system.children("apertura")) & set(replaced)
                   and world.api.call("GET", "apertura", "/salud/vivo").status_code == 200,
                   timeout=30, interval=0.2, message="new gunicorn workers serving")
        # A write refused by the new workers, and never retried: it must stay absent.
        assert_problem_503(checker.open(cliente))
        world.system.check_alive()
        # Nothing half-written: no incident, no event for the refused requests.
        assert set(world.api.customer_incidencias([cliente])) == {held}
        assert [m for m in tap.snapshot().values() if m.routing_key == "incidencia.abierta"
                and (m.snapshot or {}).get("id") != held] == []
    # Recovery without a restart; the retries with the same keys make each incident once.
    wait_until(lambda: readiness(world).status_code == 200, timeout=30, interval=0.2, message="ready again")
    assert world.system.pid("apertura") == master
    for key in keys:
        response = checker.open(cliente, key=key)
        assert response.status_code == 201, response.text
    report = checker.converge(timeout=60)
    figures.record(scenario, fault=fault, figures=report.figures())
    report.assert_sound()
    # The opening of held, its start and the three retried keys; the one never retried.
    writes = report.figures()["writes"]
    assert (writes["acknowledged"], writes["refused"], writes["indeterminate"]) == (len(keys) + 2, 1, 0), writes
    assert world.system.pid("apertura") == master  # recovered, not restarted


def test_a_locked_sqlite_file(world, tap, broker, figures, alive):
    path = world.system.db_path("apertura")
    outage_scenario(world, tap, broker, figures, "sqlite_locked",
                    "another process holds the write lock of apertura's SQLite file; the worker's "
                    "connections are cut meanwhile", lambda: sqlite_locked(path), outage_is_a_lock=True)


def test_a_read_only_sqlite_file(world, tap, broker, figures, alive):
    path = world.system.db_path("apertura")
    if not chattr_works(path.parent):
        pytest.skip("making a file read-only for root needs chattr on a filesystem that supports it")
    outage_scenario(world, tap, broker, figures, "sqlite_read_only",
                    "apertura's SQLite file and its WAL made immutable (chattr +i); the worker's "
                    "connections are cut meanwhile",
                    lambda: sqlite_read_only(path))


def mongo_env(port: int, database: str) -> dict[str, str]:
    return {"MONGO_URL": f"mongodb://127.0.0.1:{port}/{database}?directConnection=true"}


def test_an_unreachable_mongodb(world, tap, figures, alive):
    """apertura on a MongoDB URL whose port is closed: it starts, says it is
    not ready, answers 503 problem+json, and its worker stays up."""
    env = mongo_env(free_port(), "faults_closed")
    [cliente] = world.clientes(1)
    checker = world.checker("mongodb_unreachable", tap, [cliente], new_categoria("faults"))
    try:
        for name in ("apertura", "apertura_worker"):
            world.system.restart(name, env=env, wait=False)
        wait_until(lambda: world.api.call("GET", "apertura", "/salud/vivo").status_code == 200, timeout=30,
                   message="apertura alive")
        health = readiness(world)
        assert health.status_code == 503
        assert health.json()["comprobaciones"]["almacenamiento"]["estado"] == "no disponible"
        for _ in range(2):
            assert_problem_503(checker.open(cliente, key=new_marker()))
        world.system.check_alive()
        assert [m for m in tap.snapshot().values() if m.routing_key == "incidencia.abierta"] == []
    finally:
        for name in ("apertura", "apertura_worker"):
            world.system.restart(name)
    # The database those writes were meant for does not exist: the checker
    # finds them nowhere in the system (neither incident service holds them,
    # no event of theirs reached the exchange).
    report = checker.converge(timeout=30)
    figures.record("mongodb_unreachable", fault="apertura's MONGO_URL points at a closed port",
                   figures=report.figures(), storage=f"{world.system.storage}, apertura on an unreachable MongoDB")
    report.assert_sound()
    assert report.figures()["writes"]["refused"] == 2


@pytest.mark.skipif(not os.environ.get("MONGO_URL"), reason="needs a real MongoDB (MONGO_URL) to recover to")
def test_mongodb_back_without_a_restart(world, tap, figures, alive):
    real = urlsplit(os.environ["MONGO_URL"])
    gate = Gate(real.hostname or "127.0.0.1", real.port or 27017)
    database = f"faults_{uuid.uuid4().hex[:8]}"
    userinfo = real.netloc.rpartition("@")[0]
    url = urlunsplit(("mongodb", f"{userinfo + '@' if userinfo else ''}127.0.0.1:{gate.port}", f"/{database}",
                      "directConnection=true", ""))
    [cliente] = world.clientes(1)
    checker = world.checker("mongodb_recovers", tap, [cliente], new_categoria("faults"))
    key = new_marker()
    try:
        for name in ("apertura", "apertura_worker"):
            world.system.restart(name, env={"MONGO_URL": url}, wait=False)
        wait_until(lambda: world.api.call("GET", "apertura", "/salud/vivo").status_code == 200, timeout=30)
        assert readiness(world).status_code == 503
        assert_problem_503(checker.open(cliente, key=key))
        master = world.system.pid("apertura")
        gate.open()
        wait_until(lambda: readiness(world).status_code == 200, timeout=60, interval=0.5, message="ready again")
        response = checker.open(cliente, key=key)
        assert response.status_code == 201, response.text
        report = checker.converge(timeout=60)
        figures.record("mongodb_recovers", fault="apertura's MongoDB unreachable, then reachable again",
                       figures=report.figures())
        report.assert_sound()
        assert world.system.pid("apertura") == master
    finally:
        gate.close()
        for name in ("apertura", "apertura_worker"):
            world.system.restart(name)
