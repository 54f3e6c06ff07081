"""An idle system, then a burst. With a 2-second AMQP heartbeat, a relay or
consumer that stopped servicing its connection while idle would be cut by
the broker and publish into a dead socket, or sit stuck; neither may lose
an event or leave a worker stuck."""
from __future__ import annotations

import time

import pytest

from harness import new_categoria

from .load import Load
from .procfs import amqp_ports

pytestmark = [pytest.mark.slow, pytest.mark.faults]

HEARTBEAT = 2
IDLE = 6 * HEARTBEAT  # seconds without a single message
SYSTEM_ENV = {"AMQP_HEARTBEAT": str(HEARTBEAT)}
WORKERS = ("clientes_worker", "apertura_worker", "resolucion_worker", "empleados_worker")


def worker_connections(world, broker) -> dict[int, dict]:
    """The broker's view of every connection the system's workers hold, by client port."""
    ports = set()
    for name in WORKERS:
        ports |= amqp_ports(world.system.pid(name))
        for child in world.system.children(name):
            ports |= amqp_ports(child)
    return {c["port"]: c for c in broker.connections() if c["port"] in ports}


def test_an_idle_system_keeps_its_connections_and_a_burst_loses_nothing(world, tap, broker, figures, alive):
    clientes = world.clientes(3)
    categoria = new_categoria("faults")
    checker = world.checker("idle_then_burst", tap, clientes, categoria)
    warm = Load(world.api, clientes, categoria, rate=5, duration=2, max_requests=10).run()
    before = worker_connections(world, broker)
    # relay per worker (4) + consumers (apertura 2, resolucion 3)
    assert len(before) >= 9, before
    assert {c["heartbeat"] for c in before.values()} == {HEARTBEAT}, before

    time.sleep(IDLE)  # hold the fault: idle for six heartbeats

    after = worker_connections(world, broker)
    burst = Load(world.api, clientes, categoria, rate=200, duration=1, max_requests=80, concurrency=16).run()
    checker.add_requests(warm + burst)
    report = checker.converge(timeout=60)
    reconnected = {name for name in WORKERS if "broker unavailable" in world.system.log_text(name)}
    figures.record("idle_then_burst",
                   fault=f"AMQP_HEARTBEAT={HEARTBEAT}: idle {IDLE} s, then a burst of {len(burst)} incidents",
                   figures={**report.figures(), "idle_s": IDLE, "heartbeat_s": HEARTBEAT,
                            "connections_kept_while_idle": len(set(before) & set(after)),
                            "connections": len(before)})
    report.assert_sound()
    assert all(r.acknowledged for r in burst)
    # Every connection survived the idle period: heartbeats were serviced, nothing reconnected.
    assert {p: c["connected_at"] for p, c in after.items()} == {p: c["connected_at"] for p, c in before.items()}
    assert not reconnected, f"workers that lost their connection while idle: {reconnected}"
