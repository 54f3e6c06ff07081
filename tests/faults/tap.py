"""The tap: a copy of every message published to a system's exchange."""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass

import pika
from pika.exceptions import AMQPError

from common.messaging import Topology

from .broker import AMQP_URL


@dataclass
class Seen:
    message_id: str
    routing_key: str
    origin: str | None
    body: bytes
    copies: int = 1

    @property
    def envelope(self) -> dict | None:
        try:
            data = json.loads(self.body)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    @property
    def snapshot(self) -> dict | None:
        envelope = self.envelope or {}
        datos = envelope.get("datos") if isinstance(envelope.get("datos"), dict) else {}
        snapshot = datos.get("incidencia")
        return snapshot if isinstance(snapshot, dict) else None


class Tap:
    """A queue bound to the system's exchange with ``#``: a copy of every
    message published there, counted by message id (publisher duplicates
    show up as extra copies). Messages without a message id are kept apart
    (``anonymous``), for the checker to examine: every event of the system
    must carry its id. It reconnects across broker faults."""

    def __init__(self, exchange: str):
        self.exchange = exchange
        self.queue = f"{exchange}.faults.tap.{uuid.uuid4().hex[:6]}"
        self.seen: dict[str, Seen] = {}
        self.anonymous: list[Seen] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def _params(self) -> pika.URLParameters:
        params = pika.URLParameters(AMQP_URL)
        params.heartbeat = 30
        params.connection_attempts = 1
        params.socket_timeout = 5
        params.client_properties = {"connection_name": f"faults.tap.{self.exchange}"}
        return params

    def start(self) -> "Tap":
        conn = pika.BlockingConnection(self._params())
        try:
            channel = conn.channel()
            Topology(self.exchange).declare_exchanges(channel)
            channel.queue_declare(self.queue, durable=True, arguments={"x-queue-type": "quorum"})
            channel.queue_bind(self.queue, self.exchange, routing_key="#")
        finally:
            conn.close()
        self._thread = threading.Thread(target=self._run, name="tap", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopping.is_set():
            conn = None
            try:
                conn = pika.BlockingConnection(self._params())
                channel = conn.channel()
                channel.basic_qos(prefetch_count=200)
                for method, properties, body in channel.consume(self.queue, inactivity_timeout=0.2):
                    if self._stopping.is_set():
                        break
                    if method is None:
                        continue
                    self._record(method, properties, body)
                    channel.basic_ack(method.delivery_tag)
            except (AMQPError, OSError):
                self._stopping.wait(0.5)
            finally:
                if conn is not None and conn.is_open:
                    try:
                        conn.close()
                    except AMQPError:
                        pass

    def _record(self, method, properties, body: bytes) -> None:
        message_id = properties.message_id
        with self._lock:
            if not message_id:
                self.anonymous.append(Seen("", method.routing_key, properties.app_id, body))
                return
            known = self.seen.get(message_id)
            if known is None:
                self.seen[message_id] = Seen(message_id, method.routing_key, properties.app_id, body)
            elif not method.redelivered:
                # A redelivery to the tap itself (its connection dropped before
                # the ack) is not a second publication.
                known.copies += 1

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            conn = pika.BlockingConnection(self._params())
            conn.channel().queue_delete(self.queue)
            conn.close()
        except AMQPError:
            pass

    def snapshot(self) -> dict[str, Seen]:
        with self._lock:
            return {k: Seen(v.message_id, v.routing_key, v.origin, v.body, v.copies) for k, v in self.seen.items()}

    def anonymous_snapshot(self) -> list[Seen]:
        with self._lock:
            return [Seen(s.message_id, s.routing_key, s.origin, s.body, s.copies) for s in self.anonymous]

    def ids_for(self, incidencia_id: str, tipo: str | None = None) -> list[str]:
        return [s.message_id for s in self.snapshot().values()
                if (s.snapshot or {}).get("id") == incidencia_id and (tipo is None or s.routing_key == tipo)]

    def wait_quiet(self, quiet: float = 1.0, timeout: float = 30.0) -> None:
        """Until no new copy arrived for ``quiet`` seconds."""
        def total() -> int:
            with self._lock:
                return sum(s.copies for s in self.seen.values()) + len(self.anonymous)

        deadline = time.monotonic() + timeout
        last, since = total(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = total()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
