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


def assigned_incident(world, checker, cliente, categoria) -> str:
    response = world.api.open_incidencia(cliente, categoria)
    assert response.status_code == 201, response.text
    checker.extra_requests += 1
    incidencia_id = response.json()["id"]
    wait_until(lambda: world.api.customer_incidencias([cliente])[incidencia_id]["estado"] == "asignada", timeout=30,
               message="assigned")
    return incidencia_id


def staff_starts(world, cliente, incidencia_id) -> None:
    mine = world.api.customer_incidencias([cliente])[incidencia_id]
    agente = next(a for a in world.agentes if a.id == mine["asignada_a"]["id"])
    response = world.api.call("POST", "resolucion", f"/incidencias/{incidencia_id}/inicio", token=agente.token)
    assert response.status_code == 200, response.text


def outage_scenario(request, world, tap, broker, figures, scenario: str, fault: str, outage,
                    outage_is_a_lock: bool = False) -> None:
    """The same checks for every way the SQLite file can become unusable."""
    [cliente] = world.clientes(1)
    categoria = new_categoria("faults")
    checker = world.checker(scenario, tap, [cliente], categoria)
    held = assigned_incident(world, checker, cliente, categoria)
    checker.expect(held, Expected("en_curso", 3))
    master = world.system.pid("apertura")
    keys = [f"faults-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    with outage():
        health = readiness(world)
        assert health.status_code == 503, health.text
        assert health.json()["comprobaciones"]["almacenamiento"]["estado"] == "no disponible"
        # Writes are refused, as problem documents, several at once.
        with ThreadPoolExecutor(3) as pool:
            refused = list(pool.map(lambda k: world.api.open_incidencia(cliente, categoria, key=k), keys))
        checker.extra_requests += len(keys)
        for response in refused:
            assert_problem_503(response)
        # An event apertura must apply arrives meanwhile: held, not dead-lettered,
        # even when the worker's connections are cut while it holds it.
        staff_starts(world, cliente, held)
        checker.extra_requests += 1
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
        assert_problem_503(world.api.open_incidencia(cliente, categoria, key=keys[0]))
        checker.extra_requests += 1
        world.system.check_alive()
        # Nothing half-written: no incident, no event for the refused requests.
        assert set(world.api.customer_incidencias([cliente])) == {held}
        assert [m for m in tap.snapshot().values() if m.routing_key == "incidencia.abierta"
                and (m.snapshot or {}).get("id") != held] == []
    # Recovery without a restart.
    wait_until(lambda: readiness(world).status_code == 200, timeout=30, interval=0.2, message="ready again")
    assert world.system.pid("apertura") == master
    for key in keys:
        response = world.api.open_incidencia(cliente, categoria, key=key)
        assert response.status_code == 201, response.text
        checker.extra_requests += 1
        checker.acknowledge(response.json()["id"], key)
    checker.acknowledge(held, expected=Expected("en_curso", 3))
    report = checker.converge(timeout=60)
    figures.record(scenario, test=request.node.nodeid, fault=fault,
                   figures={**report.figures(), "refused_with_503": len(keys) + 1})
    report.assert_sound()
    assert world.system.pid("apertura") == master  # recovered, not restarted


def test_a_locked_sqlite_file(request, world, tap, broker, figures, alive):
    path = world.system.db_path("apertura")
    outage_scenario(request, world, tap, broker, figures, "sqlite_locked",
                    "another process holds the write lock of apertura's SQLite file; the worker's "
                    "connections are cut meanwhile", lambda: sqlite_locked(path), outage_is_a_lock=True)


def test_a_read_only_sqlite_file(request, world, tap, broker, figures, alive):
    path = world.system.db_path("apertura")
    if not chattr_works(path.parent):
        pytest.skip("making a file read-only for root needs chattr on a filesystem that supports it")
    outage_scenario(request, world, tap, broker, figures, "sqlite_read_only",
                    "apertura's SQLite file and its WAL made immutable (chattr +i); the worker's "
                    "connections are cut meanwhile",
                    lambda: sqlite_read_only(path))


def mongo_env(port: int, database: str) -> dict[str, str]:
    return {"MONGO_URL": f"mongodb://127.0.0.1:{port}/{database}?directConnection=true"}


def test_an_unreachable_mongodb(request, world, tap, figures, alive):
    """apertura on a MongoDB URL whose port is closed: it starts, says it is
    not ready, answers 503 problem+json, and its worker stays up."""
    env = mongo_env(free_port(), "faults_closed")
    try:
        for name in ("apertura", "apertura_worker"):
            world.system.restart(name, env=env, wait=False)
        wait_until(lambda: world.api.call("GET", "apertura", "/salud/vivo").status_code == 200, timeout=30,
                   message="apertura alive")
        health = readiness(world)
        assert health.status_code == 503
        assert health.json()["comprobaciones"]["almacenamiento"]["estado"] == "no disponible"
        [cliente] = world.clientes(1)
        for key in ("faults-mongo-1", "faults-mongo-2"):
            assert_problem_503(world.api.open_incidencia(cliente, new_categoria("faults"), key=key))
        world.system.check_alive()
        assert [m for m in tap.snapshot().values() if m.routing_key == "incidencia.abierta"] == []
        figures.record("mongodb_unreachable", test=request.node.nodeid,
                       fault="apertura's MONGO_URL points at a closed port",
                       figures={"requests": {"made": 3, "answered_503": 2}, "events": {"published": 0, "lost": 0}})
    finally:
        for name in ("apertura", "apertura_worker"):
            world.system.restart(name)


@pytest.mark.skipif(not os.environ.get("MONGO_URL"), reason="needs a real MongoDB (MONGO_URL) to recover to")
def test_mongodb_back_without_a_restart(request, world, tap, figures, alive):
    real = urlsplit(os.environ["MONGO_URL"])
    gate = Gate(real.hostname or "127.0.0.1", real.port or 27017)
    database = f"faults_{uuid.uuid4().hex[:8]}"
    userinfo = real.netloc.rpartition("@")[0]
    url = urlunsplit(("mongodb", f"{userinfo + '@' if userinfo else ''}127.0.0.1:{gate.port}", f"/{database}",
                      "directConnection=true", ""))
    [cliente] = world.clientes(1)
    categoria = new_categoria("faults")
    checker = world.checker("mongodb_recovers", tap, [cliente], categoria)
    try:
        for name in ("apertura", "apertura_worker"):
            world.system.restart(name, env={"MONGO_URL": url}, wait=False)
        wait_until(lambda: world.api.call("GET", "apertura", "/salud/vivo").status_code == 200, timeout=30)
        assert readiness(world).status_code == 503
        assert_problem_503(world.api.open_incidencia(cliente, categoria, key="faults-mongo"))
        master = world.system.pid("apertura")
        gate.open()
        wait_until(lambda: readiness(world).status_code == 200, timeout=60, interval=0.5, message="ready again")
        response = world.api.open_incidencia(cliente, categoria, key="faults-mongo")
        assert response.status_code == 201, response.text
        checker.extra_requests += 2
        checker.acknowledge(response.json()["id"], "faults-mongo")
        report = checker.converge(timeout=60)
        figures.record("mongodb_recovers", test=request.node.nodeid,
                       fault="apertura's MongoDB unreachable, then reachable again", figures=report.figures())
        report.assert_sound()
        assert world.system.pid("apertura") == master
    finally:
        gate.close()
        for name in ("apertura", "apertura_worker"):
            world.system.restart(name)
