"""A consumer of one durable queue, with manual acks after the local write.

- A message that can never be processed (not JSON, not an envelope, a
  ``tipo`` nobody handles, data the handler rejects with ``PermanentError``
  or the store refuses as ``InvalidData``)
  is published to the dead-letter exchange with the reason in the
  ``x-error`` header, then acked: the queue keeps flowing.
- A handler that fails unexpectedly gets the message back (nack, requeue)
  after a delay that grows with each delivery; the quorum queue's delivery
  limit dead-letters it after ``max_deliveries`` attempts.
- While the store is unavailable the message is held and retried in place,
  so an outage of the database does not burn the delivery budget.
- Already-applied event ids are acked without calling the handler again.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Iterable, Mapping

import pika
from pika.exceptions import AMQPError

from common.context import reset_correlation_id, set_correlation_id
from common.storage import InvalidData, StorageUnavailable

from .broker import BrokerUnavailable, Topology
from .envelope import Event, InvalidEnvelope, rfc3339, utc_now
from .idempotency import ProcessedEvents
from .link import BrokerLink

log = logging.getLogger(__name__)

Handler = Callable[[Event], None]
ACK_BATCH = 16
"""The most applied messages whose acks wait for one ``multiple`` ack: acks
are sent once no further delivered message is waiting in the buffer, or
after this many, so a burst costs one ack per batch instead of one per
message. An ack held back when the connection dies only means the broker
delivers those messages again, which the processed-event record absorbs."""
STOP_CHECK_SECONDS = 2.0
"""How often a consumer with nothing to consume wakes to see whether it was
asked to stop: the longest a stop waits for an idle consumer, and the only
work an idle consumer does (more often would be a poll)."""


class PermanentError(Exception):
    """Raised by a handler for an event that no retry will ever make valid."""


class Consumer(BrokerLink):
    def __init__(self, *, amqp_url: str, topology: Topology, service: str, name: str, handlers: Mapping[str, Handler],
                 bindings: Iterable[str] | None = None, processed: ProcessedEvents | None = None,
                 max_deliveries: int = 5, prefetch: int = 16,
                 heartbeat: int = 30, blocked_timeout: float = 30.0, max_backoff: float = 10.0):
        super().__init__(amqp_url, heartbeat, blocked_timeout, max_backoff)
        self.topology = topology
        self.service = service
        self.queue = topology.queue_name(service, name)
        self.handlers = dict(handlers)
        self.bindings = list(bindings or self.handlers)
        self.processed = processed
        self.max_deliveries = max_deliveries
        self.prefetch = prefetch
        self.ready = threading.Event()
        self._held: list[int] = []  # delivery tags applied, their ack not sent yet
        self.handled = 0
        self.dead_lettered = 0

    # -- connection --------------------------------------------------------
    def _open(self):
        channel = self._connect(f"{self.service}.{self.queue}").channel()
        self.topology.declare_queue(channel, self.queue, self.bindings, self.max_deliveries)
        channel.basic_qos(prefetch_count=self.prefetch)
        dead_letters = self._connection.channel()
        dead_letters.confirm_delivery()
        self._connected()
        self.ready.set()
        log.info("consumer connected", extra={"queue": self.queue})
        return channel, dead_letters

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                channel, dead_letters = self._open()
                self._held.clear()  # a new channel: the old one's tags mean nothing on it
                for method, properties, body in channel.consume(self.queue, inactivity_timeout=STOP_CHECK_SECONDS):
                    if self.stopping.is_set():
                        break
                    if method is None:
                        self._send_acks(channel)
                        continue
                    self._deliver(channel, dead_letters, method, properties, body)
                    if len(self._held) >= ACK_BATCH or not channel.get_waiting_message_count():
                        self._send_acks(channel)
                if channel.is_open:
                    self._send_acks(channel)
                    channel.cancel()  # unacked prefetched messages go back to the queue
            except (BrokerUnavailable, AMQPError, OSError) as exc:
                log.warning("consumer %s: broker unavailable, retrying in %.1fs: %s", self.queue, self._backoff, exc)
                self._retry_later()
            finally:
                self._close()

    # -- one message -------------------------------------------------------
    def _deliver(self, channel, dead_letters, method, properties, body: bytes) -> None:
        try:
            event = Event.parse(body)
            handler = self.handlers.get(event.tipo)
            if handler is None:
                raise InvalidEnvelope(f"no handler for tipo {event.tipo!r} in {self.queue}")
        except InvalidEnvelope as exc:
            self._dead_letter(channel, dead_letters, method, properties, body, str(exc))
            return
        token = set_correlation_id(event.correlation_id)
        try:
            if self._apply(event, handler):
                self._held.append(method.delivery_tag)
            else:
                self._send_acks(channel)
                channel.basic_nack(method.delivery_tag, requeue=True)  # stopping: give it back
        except (PermanentError, InvalidData) as exc:
            # InvalidData: the store can never take what this event asks for; retrying cannot help.
            self._dead_letter(channel, dead_letters, method, properties, body, str(exc))
        except AMQPError:
            # The connection went away (while the message was held, or at the
            # ack): not the handler's failure. run() reconnects and the broker
            # delivers the message again; retrying here, on a closed
            # connection, would only kill the consumer.
            raise
        except Exception as exc:  # noqa: BLE001 - any bug must not kill the consumer
            deliveries = int((properties.headers or {}).get("x-delivery-count", 0)) + 1
            log.exception("handler failed for event %s (%s), delivery %d/%d: %s",
                          event.id, event.tipo, deliveries, self.max_deliveries, exc)
            self._send_acks(channel)
            self._connection.sleep(min(0.05 * 2 ** deliveries, self.max_backoff))
            channel.basic_nack(method.delivery_tag, requeue=True)
        finally:
            reset_correlation_id(token)

    def _send_acks(self, channel) -> None:
        """Ack every applied message held back, with one ``multiple`` ack
        (tags on one channel grow, and nothing between them is left
        outstanding: a message refused or dead-lettered sends the held acks
        first)."""
        if self._held:
            last = self._held[-1]
            self._held.clear()
            channel.basic_ack(last, multiple=True)

    def _apply(self, event: Event, handler: Handler) -> bool:
        """Run the handler, holding the message while the store is down.
        Returns False if asked to stop before it could be applied."""
        backoff = 0.1
        while True:
            try:
                if self.processed is not None and self.processed.seen(event.id):
                    return True
                handler(event)
                if self.processed is not None:
                    self.processed.remember(event.id, event.tipo)
                self.handled += 1
                return True
            except StorageUnavailable as exc:
                if self.stopping.is_set():
                    return False
                log.warning("storage unavailable while applying %s, retrying: %s", event.id, exc)
                self._connection.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def _dead_letter(self, channel, dead_letters, method, properties, body: bytes, reason: str) -> None:
        self._send_acks(channel)
        log.error("dead-lettering message from %s: %s", self.queue, reason)
        headers = dict(properties.headers or {})
        headers.update({
            "x-error": reason[:1000],
            "x-original-routing-key": method.routing_key,
            "x-original-queue": self.queue,
            "x-dead-lettered-at": rfc3339(utc_now()),
        })
        dead_letters.basic_publish(
            self.topology.dead_letter_exchange,
            self.queue,
            body,
            pika.BasicProperties(
                content_type=properties.content_type,
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=properties.message_id,
                correlation_id=properties.correlation_id,
                type=properties.type,
                headers=headers,
            ),
        )
        channel.basic_ack(method.delivery_tag)
        self.dead_lettered += 1
