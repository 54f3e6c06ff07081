"""Driving the real RabbitMQ on 127.0.0.1 into faults, and always back out.

Every fault has a context manager that restores the broker in ``finally``
(``start_app``, the memory watermark, ``await_startup``): other engineers'
tests share this broker, so none is ever left stopped or blocked.
"""
from __future__ import annotations

import json
import logging
import re
import subprocess
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import pika

from common.messaging import Topology

log = logging.getLogger(__name__)

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_WATERMARK = 0.4


def rabbitmqctl(*args: str, timeout: float = 60.0) -> str:
    result = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed ({result.returncode}): "
                           f"{result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def close_connections(ports: set[int], reason: str = "fault injection: connection cut") -> int:
    """Close, broker side, the client connections coming from these local ports
    (one process's connections, where close_all_connections would cut everyone's
    on a broker others share). Returns how many were closed."""
    out = rabbitmqctl("-q", "list_connections", "pid", "peer_port", "--no-table-headers")
    closed = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and int(parts[1]) in ports:
            rabbitmqctl("close_connection", parts[0], reason)
            closed += 1
    return closed


class Broker:
    """The shared local broker, driven by ``rabbitmqctl``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.watermark = self._configured_watermark()

    @staticmethod
    def _configured_watermark() -> float:
        """The relative watermark to restore (never 0, in case a crashed run left it there)."""
        try:
            status = json.loads(rabbitmqctl("status", "--formatter", "json"))
            value = float((status.get("vm_memory_high_watermark_setting") or {}).get("relative", 0))
        except (RuntimeError, ValueError, TypeError, subprocess.TimeoutExpired):
            value = 0.0
        return value if 0 < value < 1 else DEFAULT_WATERMARK

    # -- observation ---------------------------------------------------------
    def status(self) -> dict:
        return json.loads(rabbitmqctl("status", "--formatter", "json"))

    def memory_alarm(self) -> bool:
        return any("memory" in json.dumps(alarm) for alarm in self.status().get("alarms") or [])

    def queues(self, prefix: str) -> dict[str, tuple[int, int]]:
        """``{queue: (ready, unacked)}`` for the queues whose name starts with ``prefix``."""
        out = rabbitmqctl("-q", "list_queues", "name", "messages_ready", "messages_unacknowledged",
                          "--no-table-headers")
        found = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0].startswith(prefix):
                found[parts[0]] = (int(parts[1]), int(parts[2]))
        return found

    def running(self) -> bool:
        try:
            return rabbitmqctl("-q", "eval", "rabbit:is_running().", timeout=30).strip() == "true"
        except (RuntimeError, subprocess.TimeoutExpired):
            return False

    def current_watermark(self) -> float | None:
        try:
            return float(rabbitmqctl("-q", "eval", "vm_memory_monitor:get_vm_memory_high_watermark().",
                                     timeout=30).strip())
        except (RuntimeError, ValueError, subprocess.TimeoutExpired):
            return None

    def connections(self) -> list[dict]:
        """Every client connection: its name, negotiated heartbeat (s), when it
        was opened (ms since the epoch) and its client-side port."""
        out = rabbitmqctl("-q", "list_connections", "client_properties", "timeout", "connected_at", "peer_port",
                          "--formatter", "json")
        found = []
        for row in json.loads(out or "[]"):
            properties = {p[0]: p[2] for p in row.get("client_properties") or [] if len(p) == 3}
            found.append({"name": properties.get("connection_name"), "heartbeat": row.get("timeout"),
                          "connected_at": row.get("connected_at"), "port": row.get("peer_port")})
        return found

    def close_connections(self, ports: set[int], reason: str = "fault injection: connection cut") -> int:
        return close_connections(ports, reason)

    # -- faults, each restored in finally --------------------------------------
    def restore(self) -> None:
        """Running, unblocked, ready: safe to call at any time, any number of
        times. It only touches what is wrong (a start_app or a watermark change
        on a healthy broker shared with others is an intrusion of its own)."""
        with self._lock:
            for attempt in range(3):
                try:
                    if not self.running():
                        rabbitmqctl("start_app", timeout=120)
                    if self.current_watermark() != self.watermark:
                        rabbitmqctl("set_vm_memory_high_watermark", str(self.watermark))
                    rabbitmqctl("await_startup", timeout=120)
                    return
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    log.warning("restoring RabbitMQ, attempt %d: %s", attempt + 1, exc)
                    time.sleep(1)
            raise RuntimeError("RabbitMQ could not be restored: run `rabbitmqctl start_app` and "
                               f"`rabbitmqctl set_vm_memory_high_watermark {self.watermark}`")

    def answers(self, timeout: float = 15.0) -> bool:
        """Whether a client can open an AMQP connection now."""
        params = pika.URLParameters(AMQP_URL)
        params.connection_attempts = 1
        params.socket_timeout = timeout
        params.stack_timeout = timeout
        try:
            pika.BlockingConnection(params).close()
            return True
        except (pika.exceptions.AMQPError, OSError):
            return False

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """``rabbitmqctl stop_app`` for the duration of the block."""
        try:
            rabbitmqctl("stop_app", timeout=120)
            yield
        finally:
            self.restore()

    @contextmanager
    def memory_alarm_raised(self) -> Iterator[None]:
        """Every publishing connection blocked (``set_vm_memory_high_watermark 0``)."""
        try:
            rabbitmqctl("set_vm_memory_high_watermark", "0")
            deadline = time.monotonic() + 30
            while not self.memory_alarm():
                if time.monotonic() > deadline:
                    raise AssertionError("the memory alarm did not go off")
                time.sleep(0.2)
            yield
        finally:
            self.restore()

    def close_all_connections(self, reason: str = "fault injection: connections cut") -> None:
        rabbitmqctl("close_all_connections", reason)


def connection() -> pika.BlockingConnection:
    params = pika.URLParameters(AMQP_URL)
    params.heartbeat = 30
    params.blocked_connection_timeout = 30
    params.client_properties = {"connection_name": "faults.test"}
    return pika.BlockingConnection(params)


SYSTEM_NAME = re.compile(r"\be2e\.[0-9a-f]{8}\b")


def running_systems(broker: Broker) -> set[str]:
    """The test systems (``e2e.<id>``) holding a connection now: every
    consumer's connection is named after its queue, which is named after the
    system's exchange. (The broker's consumer counts lag by seconds; its
    connection table does not.)"""
    return {match for c in broker.connections() for match in SYSTEM_NAME.findall(c["name"] or "")}


def sweep_dead_test_systems(broker: Broker, settle: float = 12.0) -> int:
    """Delete the queues and exchanges of test systems that no longer run.

    Every harness system names its exchange ``e2e.<id>`` and its queues after
    it, and leaves them behind when it stops. Hundreds of left-over quorum
    queues are more than a broker with the default 1024 file descriptors can
    restart with (after ``start_app`` it reserves file handles for each and
    then accepts no connection at all). A system counts as gone when none of
    its processes holds a connection, twice, ``settle`` seconds apart (longer
    than a consumer's longest reconnection backoff). Returns how many queues
    were deleted."""
    def candidates() -> dict[str, list[str]]:
        out = rabbitmqctl("-q", "list_queues", "name", "--no-table-headers", timeout=120)
        groups: dict[str, list[str]] = {}
        for line in out.splitlines():
            name = line.strip()
            match = SYSTEM_NAME.match(name)
            if match:
                groups.setdefault(match.group(0), []).append(name)
        return {system: queues for system, queues in groups.items() if system not in running_systems(broker)}

    first = candidates()
    if not first:
        return 0
    time.sleep(settle)  # a debounce: a system between two connections is not gone
    dead = {system: queues for system, queues in candidates().items() if system in first}
    deleted = 0
    conn = connection()
    try:
        channel = conn.channel()
        for system, queues in dead.items():
            for name in queues:
                channel.queue_delete(name)
                deleted += 1
            topology = Topology(system)
            for name in (topology.exchange, topology.dead_letter_exchange, topology.unrouted_exchange):
                channel.exchange_delete(name)
    finally:
        conn.close()
    log.warning("deleted %d queues of %d test systems that no longer run", deleted, len(dead))
    return deleted


def quorum_queue_count(broker: Broker) -> int:
    out = rabbitmqctl("-q", "list_queues", "type", "--no-table-headers", timeout=120)
    return sum(1 for line in out.splitlines() if line.strip() == "quorum")


def publish(exchange: str, routing_key: str, body: bytes, *, message_id: str | None = None,
            headers: dict | None = None, origin: str = "faults.test") -> None:
    """Publish straight to the exchange, confirmed, as a hostile or replaying client would."""
    conn = connection()
    try:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            exchange, routing_key, body,
            pika.BasicProperties(content_type="application/json", delivery_mode=pika.DeliveryMode.Persistent,
                                 message_id=message_id, app_id=origin, headers=headers),
            mandatory=True,
        )
    finally:
        conn.close()


def drain(queue: str) -> list[tuple[pika.spec.Basic.GetOk, pika.BasicProperties, bytes]]:
    """Take every message now in ``queue``."""
    conn = connection()
    messages = []
    try:
        channel = conn.channel()
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return messages
            messages.append((method, properties, body))
    finally:
        conn.close()
