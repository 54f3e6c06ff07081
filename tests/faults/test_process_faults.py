"""Processes die: a worker (outbox relay and consumers) killed with SIGKILL
mid-message, a gunicorn worker killed mid-request, and SIGTERM, which must
finish or give back the work in hand. A message is redelivered and applied
once; a request either fully happened or not at all."""
from __future__ import annotations

import os
import random
import signal
import threading
import time

import httpx
import pytest

from common.messaging import Topology
from common.messaging.dead_letters import DeadLetters
from harness import new_categoria, wait_until

from .load import Load, new_marker
from .procfs import waiting_for_sqlite_lock, wchan
from .storage import sqlite_locked

pytestmark = [pytest.mark.slow, pytest.mark.faults]


def incidents_queue(world, service: str) -> str:
    return Topology(world.system.exchange).queue_name(service, "incidencias")


def queue_state(broker, queue: str) -> tuple[int, int]:
    return broker.queues(queue).get(queue, (0, 0))


def open_acknowledged(checker, cliente, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        response = checker.open(cliente)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def in_sqlite_busy_wait(world, name: str) -> int | None:
    """The gunicorn worker of ``name`` now waiting for the database's write lock."""
    for pid in world.system.children(name):
        if "nanosleep" in wchan(pid):
            return pid
    return None


GRACEFUL_SHUTDOWN = "Handling signal: term"  # what gunicorn's master logs on SIGTERM


def shutting_down(world, name: str, signals_before: int) -> bool:
    """Whether gunicorn's master of ``name`` is in its graceful shutdown: it
    logged the SIGTERM and sleeps in the loop where, its workers told to
    stop, it waits for them to finish (its main loop waits on a queue, not
    in nanosleep)."""
    return (world.system.log_text(name).count(GRACEFUL_SHUTDOWN) > signals_before
            and "nanosleep" in wchan(world.system.pid(name)))


def busy_web_worker(world, name: str, rng: random.Random, within: float = 0.3) -> int | None:
    """A gunicorn worker of ``name`` caught handling a request (not idle in
    its accept loop), or any of them if none is caught within ``within`` s."""
    deadline = time.monotonic() + within
    workers = world.system.children(name)
    while workers and time.monotonic() < deadline:
        busy = [pid for pid in workers if not wchan(pid).startswith(("poll_schedule_timeout", "do_select"))]
        if busy:
            return rng.choice(busy)
        time.sleep(0.001)
        workers = world.system.children(name)
    return rng.choice(workers) if workers else None


class Background:
    """One HTTP request sent from a thread, so the test can act while it is in flight."""

    def __init__(self, fn):
        self.response: httpx.Response | None = None
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn) -> None:
        try:
            self.response = fn()
        except httpx.HTTPError as exc:
            self.error = exc

    def join(self, timeout: float = 30) -> "Background":
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the request never ended"
        return self


def test_a_consumer_killed_mid_message_gets_it_redelivered_and_applies_it_once(
        world, tap, broker, figures, alive):
    [cliente] = world.clientes(1)
    categoria = new_categoria("faults")
    checker = world.checker("consumer_sigkill_mid_message", tap, [cliente], categoria)
    queue = incidents_queue(world, "incidencias_resolucion")
    with sqlite_locked(world.system.db_path("resolucion")):
        # resolucion's consumer takes the events and blocks writing them: mid-message.
        open_acknowledged(checker, cliente, 3)
        in_hand = wait_until(lambda: queue_state(broker, queue)[1] >= 3 and queue_state(broker, queue)[1],
                             timeout=20, interval=0.2, message="the consumer holds the messages unacked")
        world.system.kill("resolucion_worker", signal.SIGKILL)
        world.system.wait_exit("resolucion_worker", timeout=10)
    # The broker takes back what the dead consumer held.
    wait_until(lambda: queue_state(broker, queue) == (in_hand, 0), timeout=20, interval=0.2,
               message="unacked messages back in the queue")
    world.system.start(["resolucion_worker"])
    report = checker.converge(timeout=60)
    figures.record("consumer_sigkill_mid_message",
                   fault="SIGKILL the resolucion worker while its consumer holds 3 messages (database locked)",
                   figures={**report.figures(), "redelivered": in_hand})
    report.assert_sound()


def test_a_relay_killed_after_the_confirm_publishes_again_harmlessly(world, tap, broker, figures, alive):
    [cliente] = world.clientes(1)
    categoria = new_categoria("faults")
    checker = world.checker("relay_sigkill_after_confirm", tap, [cliente], categoria)
    world.system.kill("apertura_worker", signal.SIGSTOP)
    try:
        ids = open_acknowledged(checker, cliente, 3)  # in apertura's outbox
        with sqlite_locked(world.system.db_path("apertura")):
            # Resumed, the relay publishes, the broker confirms, and recording that
            # in the outbox blocks on the lock: killed there, the events are still pending.
            world.system.kill("apertura_worker", signal.SIGCONT)
            wait_until(lambda: all(tap.ids_for(i, "incidencia.abierta") for i in ids), timeout=20,
                       message="the broker confirmed the events")
            world.system.kill("apertura_worker", signal.SIGKILL)
            world.system.wait_exit("apertura_worker", timeout=10)
    finally:
        if "apertura_worker" in world.system.processes:
            world.system.kill("apertura_worker", signal.SIGCONT)
    world.system.start(["apertura_worker"])
    report = checker.converge(timeout=60)
    figures.record("relay_sigkill_after_confirm",
                   fault="SIGKILL apertura's worker between the broker's confirm and the outbox update",
                   figures=report.figures())
    report.assert_sound()
    assert report.events["duplicated"] >= len(ids), "the relay was expected to publish the events again"


def test_a_web_worker_killed_mid_request_did_nothing_and_a_retry_does_it_once(
        world, tap, broker, figures, alive):
    [cliente] = world.clientes(1)
    categoria = new_categoria("faults")
    checker = world.checker("web_worker_sigkill_mid_request", tap, [cliente], categoria)
    key = new_marker()
    workers_before = world.system.children("apertura")
    with sqlite_locked(world.system.db_path("apertura")):
        call = Background(lambda: checker.open(cliente, key=key))
        pid = wait_until(lambda: in_sqlite_busy_wait(world, "apertura"), timeout=10, interval=0.01,
                         message="a gunicorn worker inside the request, waiting to write")
        os.kill(pid, signal.SIGKILL)
        call.join()
    assert call.response is None and call.error is not None, "the killed request got an answer"
    # Not at all: nothing of it exists, on either side.
    assert world.api.customer_incidencias([cliente]) == {}
    # gunicorn replaced the worker, and the retry with the same key does it once.
    wait_until(lambda: len(world.system.children("apertura")) == len(workers_before), timeout=20,
               message="gunicorn replaced the worker")
    retried = checker.open(cliente, key=key)
    again = checker.open(cliente, key=key)
    assert retried.status_code == 201 and again.status_code == 201, (retried.text, again.text)
    assert retried.json()["id"] == again.json()["id"]
    report = checker.converge(timeout=60)
    figures.record("web_worker_sigkill_mid_request",
                   fault="SIGKILL the gunicorn worker handling POST /incidencias (waiting for the write lock)",
                   figures={**report.figures(), "killed_request_answered": False})
    report.assert_sound()


def test_workers_killed_at_random_under_load_lose_nothing_and_duplicate_nothing(
        world, tap, broker, figures, alive):
    """Jepsen-style: gunicorn workers and both incident workers SIGKILLed at
    random while customers open incidents, retrying unanswered requests with
    the same Idempotency-Key; every request ends up answered exactly once."""
    clientes = world.clientes(3)
    categoria = new_categoria("faults")
    checker = world.checker("random_sigkill_under_load", tap, clientes, categoria)
    rng = random.Random(20260)
    duration = 12.0
    load = Load(world.api, clientes, categoria, rate=10, duration=duration, max_requests=121,
                retry_for=30.0).start()
    kills = {"web_worker": 0, "apertura_worker": 0, "resolucion_worker": 0}
    try:
        started = time.monotonic()
        step = 0
        while time.monotonic() - started < duration:
            time.sleep(rng.uniform(0.4, 1.0))  # spacing between kills
            step += 1
            victim = busy_web_worker(world, "apertura", rng)
            if victim is not None:
                os.kill(victim, signal.SIGKILL)
                kills["web_worker"] += 1
            if step in (4, 9):
                name = "apertura_worker" if step == 4 else "resolucion_worker"
                world.system.kill(name, signal.SIGKILL)
                world.system.wait_exit(name, timeout=10)
                kills[name] += 1
                world.system.start([name])
    finally:
        requests = load.join(timeout=90)
    checker.add_requests(requests)
    keys = {}
    for r in requests:
        keys.setdefault(r.incidencia_id, []).append(r.key)
    report = checker.converge(timeout=90)
    figures.record("random_sigkill_under_load",
                   fault="SIGKILL random gunicorn workers (about 1/s) and each incident worker once, at 10 incidents/s",
                   figures={**report.figures(), "kills": kills,
                            "retried_requests": sum(1 for r in requests if len(r.attempts) > 1)})
    assert all(r.acknowledged for r in requests), [r.attempts[-1] for r in requests if not r.acknowledged][:5]
    assert any(len(r.attempts) > 1 for r in requests), "no kill hit a request in flight"
    assert all(len(v) == 1 for v in keys.values()), "two keys answered with one incident"
    report.assert_sound()


def test_sigterm_gives_the_message_in_hand_back_to_the_queue(world, tap, broker, figures, alive):
    [cliente] = world.clientes(1)
    categoria = new_categoria("faults")
    checker = world.checker("worker_sigterm_mid_message", tap, [cliente], categoria)
    queue = incidents_queue(world, "incidencias_resolucion")
    with sqlite_locked(world.system.db_path("resolucion")):
        open_acknowledged(checker, cliente, 2)
        wait_until(lambda: queue_state(broker, queue)[1] >= 2, timeout=20, interval=0.2,
                   message="the consumer holds the messages")
        world.system.kill("resolucion_worker", signal.SIGTERM)
        started = time.monotonic()
        world.system.wait_exit("resolucion_worker", timeout=30)
        stop_seconds = time.monotonic() - started
        # Given back, not dropped, not dead-lettered (the broker's counts lag a few seconds).
        wait_until(lambda: queue_state(broker, queue) == (2, 0), timeout=20, interval=0.5,
                   message="both messages back in the queue")
        assert queue_state(broker, f"{queue}.dlq") == (0, 0)
    world.system.start(["resolucion_worker"])
    report = checker.converge(timeout=60)
    figures.record("worker_sigterm_mid_message",
                   fault="SIGTERM the resolucion worker while its consumer holds 2 messages (database locked)",
                   figures={**report.figures(), "stop_s": round(stop_seconds, 1)})
    report.assert_sound()
    assert stop_seconds < 20


def test_sigterm_lets_the_request_in_hand_finish(world, tap, broker, figures, alive):
    [cliente] = world.clientes(1)
    categoria = new_categoria("faults")
    checker = world.checker("web_sigterm_mid_request", tap, [cliente], categoria)
    signals_before = world.system.log_text("apertura").count(GRACEFUL_SHUTDOWN)
    with sqlite_locked(world.system.db_path("apertura")) as lock:
        call = Background(lambda: checker.open(cliente, key=new_marker()))
        wait_until(lambda: in_sqlite_busy_wait(world, "apertura"), timeout=10, interval=0.01,
                   message="a gunicorn worker inside the request")
        world.system.kill("apertura", signal.SIGTERM)
        wait_until(lambda: shutting_down(world, "apertura", signals_before), timeout=10, interval=0.01,
                   message="gunicorn's graceful shutdown under way")
        assert call.thread.is_alive(), "the request ended before the lock was released"
        lock.release()
        call.join()
    world.system.wait_exit("apertura", timeout=30)
    assert call.response is not None and call.response.status_code == 201, call.error or call.response.text
    world.system.start(["apertura"])
    report = checker.converge(timeout=60)
    figures.record("web_sigterm_mid_request",
                   fault="SIGTERM gunicorn (apertura) while a POST /incidencias waits for the write lock",
                   figures=report.figures())
    report.assert_sound()


MAX_DELIVERIES = 5  # the services' default


def test_a_message_held_through_more_connection_losses_than_max_deliveries_is_replayed_and_applied(
        world, tap, broker, figures, alive):
    """RabbitMQ 3.x quorum queues count a consumer connection lost with the
    message unacked as a failed delivery, so a good event held (here while
    the database is locked) through more than MAX_DELIVERIES connection
    losses is dead-lettered by the delivery limit. It is kept in the .dlq,
    and the operators' replay (``common.messaging.dead_letters``) sends it
    back to its queue, where it is applied once."""
    [cliente] = world.clientes(1)
    categoria = new_categoria("faults")
    checker = world.checker("delivery_budget_spent_then_replayed", tap, [cliente], categoria)
    queue = incidents_queue(world, "incidencias_resolucion")
    dead_letters = DeadLetters(world.system.amqp_url, [queue])
    with sqlite_locked(world.system.db_path("resolucion")):
        [held] = open_acknowledged(checker, cliente, 1)
        for _ in range(MAX_DELIVERIES + 1):
            # Its mail sender waits for the locked database too: the broker must
            # also show the message delivered and unacknowledged.
            wait_until(lambda: queue_state(broker, queue)[1] >= 1
                       and waiting_for_sqlite_lock(world.system.pid("resolucion_worker")), timeout=30,
                       interval=0.05, message="the consumer holds the message, waiting for the database")
            world.system.kill("resolucion_worker", signal.SIGKILL)
            world.system.wait_exit("resolucion_worker", timeout=10)
            # The broker took the message back (a delivery spent) before the next consumer comes.
            wait_until(lambda: queue_state(broker, queue)[1] == 0, timeout=30, interval=0.05,
                       message="the broker noticed the lost consumer")
            world.system.start(["resolucion_worker"], wait=False)  # resolucion is not ready while locked
        dead = wait_until(dead_letters.browse, timeout=20, interval=0.5, message="dead-lettered")
    # The fault was real: the event was dead-lettered by the delivery limit and not applied.
    assert [(d.reason, d.tipo, d.source) for d in dead] == [("delivery_limit", "incidencia.abierta", queue)]
    assert held not in world.api.staff_incidencias(world.staff_token, categoria)
    replayed = dead_letters.replay()
    assert replayed.ids == [dead[0].message_id] and not replayed.kept
    report = checker.converge(timeout=60)
    assert dead_letters.depths() == {f"{queue}.dlq": 0}
    figures.record("delivery_budget_spent_then_replayed",
                   fault=f"the message in hand lost {MAX_DELIVERIES + 1} consumer connections "
                         "(SIGKILL while the database is locked), then its dead letter was replayed",
                   figures={**report.figures(), "dead_lettered": len(dead), "replayed": len(replayed.replayed)})
    report.assert_sound()
