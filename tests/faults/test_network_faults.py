"""The broker's TCP connections go silent without being closed (blackholed)
while customers keep opening incidents. Every process of the system reaches
RabbitMQ through a proxy the test controls (``proxy.py``), which stops
forwarding bytes in both directions, closing nothing, for longer than the
AMQP heartbeat, then forwards again. No FIN and no reset arrive: only the
heartbeats tell each relay and consumer that its connection is dead. They
must notice, reconnect once the path is back, and lose nothing
acknowledged, and the API must keep answering throughout."""
from __future__ import annotations

import time

import pytest

from harness import new_categoria, wait_until

from .broker import AMQP_URL
from .load import Load
from .proxy import TcpProxy
from .test_broker_faults import assert_all_answered_in_time, latency_bound

pytestmark = [pytest.mark.slow, pytest.mark.faults]

# The system's AMQP heartbeat: pika gives up a connection that has been silent
# for at most 2 x (heartbeat + 5) s, the broker after 2 heartbeats. The
# services' default, 30 s, would make the test last minutes for the same proof.
HEARTBEAT = 5
BLACKHOLE = 30.0  # seconds without a byte through: longer than pika's and the broker's detection
RATE = 8.0  # incidents opened per second, steady
WORKERS = ("clientes_worker", "apertura_worker", "resolucion_worker", "empleados_worker")
NOTICED = "broker unavailable"  # what a relay or consumer logs when it lost its connection


@pytest.fixture(scope="module")
def proxy():
    instance = TcpProxy(("127.0.0.1", 5672)).start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="module")
def system_env(proxy) -> dict[str, str]:
    """Every process of the system talks to RabbitMQ through the proxy."""
    return {"AMQP_URL": proxy.url(AMQP_URL), "AMQP_HEARTBEAT": str(HEARTBEAT)}


def through_proxy(broker, proxy) -> set[int]:
    """The broker's connections that come through the proxy, by their client port."""
    ports = proxy.upstream_ports()
    return {c["port"] for c in broker.connections() if c["port"] in ports}


def readiness(world, service: str = "apertura"):
    return world.api.call("GET", service, "/salud")


def test_a_blackholed_broker_connection_loses_nothing_and_the_api_keeps_answering(world, tap, broker, proxy,
                                                                                    figures, alive):
    clientes = world.clientes(4)
    categoria = new_categoria("faults")
    checker = world.checker("broker_blackholed", tap, clientes, categoria)
    baseline = Load(world.api, clientes, categoria, rate=RATE, duration=3, max_requests=24).run()
    bound = latency_bound(baseline)
    pids = {name: world.system.pid(name) for name in WORKERS}
    logged = {name: len(world.system.log_text(name)) for name in WORKERS}
    # Every relay and consumer holds one connection through the proxy (the web
    # processes' readiness checks only open short ones).
    before = through_proxy(broker, proxy)
    silenced = len(before)
    assert silenced >= 10, silenced  # 4 relays, 6 consumers

    load = Load(world.api, clientes, categoria, rate=RATE, duration=BLACKHOLE + 8,
                max_requests=int(RATE * (BLACKHOLE + 8)) + 1).start()
    try:
        time.sleep(2)  # load before the fault
        with proxy.blackhole():
            silenced_at = time.monotonic()
            # Readiness answers (within its check's own timeout), and says RabbitMQ is not there.
            health = wait_until(lambda: (r := readiness(world)).status_code == 503 and r, timeout=20,
                                interval=0.5, message="apertura not ready while the broker is silent")
            assert health.json()["comprobaciones"]["rabbitmq"]["estado"] == "no disponible", health.text
            assert health.json()["comprobaciones"]["almacenamiento"]["estado"] == "ok", health.text
            time.sleep(max(0.0, BLACKHOLE - (time.monotonic() - silenced_at)))  # hold the fault its full length
            during = [w.incidencia_id for w in load.requests if w.acknowledged and w.scheduled > silenced_at + 1]
            reached = set(world.api.staff_incidencias(world.staff_token, categoria)) & set(during)
            noticed = {name for name in WORKERS if NOTICED in world.system.log_text(name)[logged[name]:]}
        restored_at = time.monotonic()
    finally:
        requests = load.join()
    # The fault was real: nothing opened while silent reached resolucion then,
    # and every worker found out through its heartbeats, with no close to tell it.
    assert during and not reached, (len(during), len(reached))
    assert noticed == set(WORKERS), f"workers that did not notice the silent connection: {set(WORKERS) - noticed}"

    wait_until(lambda: readiness(world).status_code == 200, timeout=60, interval=0.5, message="ready again")
    # Every relay and consumer holds a new connection; none of the silenced ones is left.
    wait_until(lambda: len(now := through_proxy(broker, proxy)) >= silenced and not now & before, timeout=60,
               interval=1, message=f"{silenced} new connections through the proxy, none of the silenced ones")
    checker.add_requests(baseline + requests)
    report = checker.converge(timeout=120)
    figures.record("broker_blackholed",
                   fault=f"every broker connection blackholed (no byte forwarded either way, none closed) for "
                         f"{BLACKHOLE:.0f} s with AMQP_HEARTBEAT={HEARTBEAT}, under {RATE:.0f} incidents/s",
                   figures={**report.figures(), "blackhole_s": round(restored_at - silenced_at, 1),
                            "heartbeat_s": HEARTBEAT, "connections_silenced": silenced,
                            "normal_latency_bound_ms": round(bound * 1000), "opened_while_silent": len(during)})
    report.assert_sound()
    assert_all_answered_in_time(baseline + requests, bound)
    # Recovered in place: the same worker processes.
    assert {name: world.system.pid(name) for name in WORKERS} == pids
