"""The broker fails while customers keep opening incidents: RabbitMQ stopped
for 30 s, every connection cut, publishers blocked by a memory alarm.
Nothing the API acknowledged may be lost, and the API must keep answering."""
from __future__ import annotations

import signal
import time

import pytest

from harness import new_categoria, wait_until

from .broker import quorum_queue_count, sweep_dead_test_systems
from .checker import percentile
from .load import Load

pytestmark = [pytest.mark.slow, pytest.mark.faults]

RATE = 8.0  # incidents opened per second, steady
OUTAGE = 30.0  # seconds the broker is stopped
LATENCY_FLOOR = 1.0  # seconds: "normal latency" is never judged tighter than this
# RabbitMQ 3.x reserves about three file handles per quorum queue when it starts;
# with the default 1024 descriptors (927 for its file handle cache) more than
# about 300 leave it accepting no connection after start_app.
MAX_QUORUM_QUEUES_TO_RESTART = 200


def latency_bound(baseline) -> float:
    """What counts as normal latency: five times the p99 measured just before
    the fault, and never less than LATENCY_FLOOR."""
    latencies = [a.latency for r in baseline for a in r.attempts if a.status is not None]
    return max(LATENCY_FLOOR, 5 * (percentile(latencies, 99) or 0))


def assert_all_answered_in_time(requests, bound: float) -> None:
    unanswered = [r for r in requests if not r.acknowledged]
    assert not unanswered, f"{len(unanswered)} requests not answered 201: " + ", ".join(
        f"{r.status}/{r.attempts[-1].error}" for r in unanswered[:5])
    slow = [a.latency for r in requests for a in r.attempts if a.latency > bound]
    assert not slow, f"{len(slow)} answers slower than {bound:.2f}s (max {max(slow):.2f}s)"


def test_broker_stopped_for_30s_loses_nothing_and_the_api_keeps_answering(world, tap, broker, figures, alive):
    clientes = world.clientes(4)
    categoria = new_categoria("faults")
    checker = world.checker("broker_stopped_30s", tap, clientes, categoria)
    quorum = quorum_queue_count(broker)
    if quorum > MAX_QUORUM_QUEUES_TO_RESTART:
        sweep_dead_test_systems(broker)  # left behind by finished test systems
        quorum = quorum_queue_count(broker)
    if quorum > MAX_QUORUM_QUEUES_TO_RESTART:
        pytest.skip(f"the shared broker holds {quorum} quorum queues of running systems; restarting it with "
                    "that many under its file-descriptor limit would leave it accepting no connection")
    baseline = Load(world.api, clientes, categoria, rate=RATE, duration=4, max_requests=40).run()
    bound = latency_bound(baseline)

    load = Load(world.api, clientes, categoria, rate=RATE, duration=OUTAGE + 8,
                max_requests=int(RATE * (OUTAGE + 8)) + 1).start()
    try:
        time.sleep(2)  # load before the fault
        with broker.stopped():
            stopped_at = time.monotonic()
            time.sleep(OUTAGE)  # hold the fault for its specified duration
            during = [r.incidencia_id for r in load.requests
                      if r.acknowledged and r.scheduled > stopped_at + 1]
            reached = set(world.api.staff_incidencias(world.staff_token, categoria)) & set(during)
        restarted_at = time.monotonic()
    finally:
        requests = load.join()
    # The fault was real: nothing opened during the outage reached resolucion then.
    assert during and not reached, (len(during), len(reached))

    checker.add_requests(baseline + requests)
    report = checker.converge(timeout=90)
    figures.record("broker_stopped_30s",
                   fault=f"rabbitmqctl stop_app for {OUTAGE:.0f} s under {RATE:.0f} incidents/s",
                   figures={**report.figures(), "outage_s": round(restarted_at - stopped_at, 1),
                            "normal_latency_bound_ms": round(bound * 1000),
                            "opened_during_outage": len(during)})
    report.assert_sound()
    assert_all_answered_in_time(baseline + requests, bound)


def test_connections_cut_during_load_reconnect_by_themselves(world, tap, broker, figures, alive):
    clientes = world.clientes(3)
    categoria = new_categoria("faults")
    checker = world.checker("connections_cut", tap, clientes, categoria)
    baseline = Load(world.api, clientes, categoria, rate=RATE, duration=3, max_requests=30).run()
    bound = latency_bound(baseline)
    cuts = 3
    load = Load(world.api, clientes, categoria, rate=RATE, duration=15, max_requests=int(RATE * 15) + 1).start()
    try:
        for _ in range(cuts):
            time.sleep(3.5)  # spread the cuts over the load
            broker.close_all_connections()
    finally:
        requests = load.join()
    checker.add_requests(baseline + requests)
    report = checker.converge(timeout=60)
    figures.record("connections_cut",
                   fault=f"rabbitmqctl close_all_connections {cuts} times during {RATE:.0f} incidents/s",
                   figures={**report.figures(), "cuts": cuts})
    report.assert_sound()
    assert_all_answered_in_time(baseline + requests, bound)
    # Every relay and consumer reconnected: a fresh incident still makes the round trip.
    fresh = world.api.open_incidencia(clientes[0], categoria)
    assert fresh.status_code == 201
    wait_until(lambda: world.api.customer_incidencias(clientes[:1])[fresh.json()["id"]]["estado"] == "asignada",
               timeout=30, message="a round trip after the cuts")


def test_memory_alarm_blocks_publishers_without_hanging_anything(world, tap, broker, figures, alive):
    clientes = world.clientes(3)
    categoria = new_categoria("faults")
    checker = world.checker("memory_alarm", tap, clientes, categoria)
    baseline = Load(world.api, clientes, categoria, rate=RATE, duration=3, max_requests=30).run()
    bound = latency_bound(baseline)
    with broker.memory_alarm_raised():
        blocked_at = time.monotonic()
        requests = Load(world.api, clientes, categoria, rate=RATE, duration=8, max_requests=int(RATE * 8) + 1).run()
        opened = {r.incidencia_id for r in requests if r.acknowledged}
        # The fault was real: nothing opened under the alarm left apertura.
        assert opened and not set(world.api.staff_incidencias(world.staff_token, categoria)) & opened
        # Ready: the broker still accepts connections, only publishing waits.
        health = world.api.call("GET", "apertura", "/salud")
        assert health.status_code == 200, health.text
        assert health.json()["comprobaciones"]["rabbitmq"]["estado"] == "ok", health.text
        # Nothing hangs: a worker whose relay is blocked mid-publish still stops on SIGTERM.
        world.system.kill("apertura_worker", signal.SIGTERM)
        sigterm_at = time.monotonic()
        world.system.wait_exit("apertura_worker", timeout=40)
        stop_seconds = time.monotonic() - sigterm_at
        world.system.start(["apertura_worker"])
        alarm_seconds = time.monotonic() - blocked_at
    checker.add_requests(baseline + requests)
    report = checker.converge(timeout=90)
    figures.record("memory_alarm",
                   fault="rabbitmqctl set_vm_memory_high_watermark 0, then back",
                   figures={**report.figures(), "alarm_s": round(alarm_seconds, 1),
                            "worker_stop_under_alarm_s": round(stop_seconds, 1)})
    report.assert_sound()
    assert_all_answered_in_time(baseline + requests, bound)
    assert stop_seconds < 20, f"the worker took {stop_seconds:.1f}s to stop under the alarm"
