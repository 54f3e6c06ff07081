"""The outbox relay: moves events from the service's store to the exchange.

Each event is published persistent and ``mandatory`` on a confirmed channel,
and only removed from the outbox after the broker confirmed it. A crash
between the confirm and the removal publishes the event again, which the
consumers' idempotency makes harmless (at-least-once delivery).

Between batches the relay waits. When its store offers a doorbell
(``Store.relay_address``), a write of events wakes it, and with nothing to
do it looks again only every ``idle_interval`` seconds (at most half the
AMQP heartbeat, which it services then; a ring is lost only
when nobody listened or the socket's buffer was full, and then the relay was
busy anyway). Without a doorbell (MongoDB, or a second relay of the same
service) it polls every ``interval`` while it finds events, and after each
empty look waits twice as long, up to ``poll_max``: an idle relay costs two
looks a second instead of fifty, and the first event after a quiet spell
waits at most ``poll_max``.
"""
from __future__ import annotations

import logging

import pika
from pika.exceptions import AMQPError, NackError, UnroutableError

from common.storage import OutboxMessage, StorageUnavailable, Store
from common.storage.doorbell import Listener

from .broker import BrokerUnavailable, Topology
from .link import BrokerLink

log = logging.getLogger(__name__)


def message_properties(message: OutboxMessage, origin: str) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type="application/json",
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=message.id,
        correlation_id=message.correlation_id,
        type=message.routing_key,
        app_id=origin,
        headers={"correlation_id": message.correlation_id} if message.correlation_id else None,
    )


class OutboxRelay(BrokerLink):
    def __init__(self, store: Store, amqp_url: str, topology: Topology, origin: str, *,
                 interval: float = 0.02, idle_interval: float = 5.0, poll_max: float = 0.5, coalesce: float = 0.005, batch: int = 200,
                 heartbeat: int = 30, blocked_timeout: float = 30.0, max_backoff: float = 10.0):
        super().__init__(amqp_url, heartbeat, blocked_timeout, max_backoff)
        self.store = store
        self.topology = topology
        self.origin = origin
        self.interval = interval
        # Waiting on the doorbell services no heartbeat: wake at least twice a heartbeat.
        self.idle_interval = max(min(idle_interval, heartbeat / 2) if heartbeat else idle_interval, interval)
        self.poll_max = max(poll_max, interval)
        self._poll = interval
        self.coalesce = coalesce
        self.batch = batch
        self.published = 0
        self._channel = None
        self._listener: Listener | None = None

    def stop(self) -> None:
        super().stop()
        listener = self._listener
        if listener is not None:
            listener.wake()

    def _open(self) -> None:
        channel = self._connect(f"{self.origin}.relay").channel()
        self.topology.declare_exchanges(channel)
        channel.confirm_delivery()
        self._channel = channel
        self._connected()
        log.info("relay connected", extra={"service": self.origin})

    def _close(self) -> None:
        self._channel = None
        super()._close()

    def publish_pending(self) -> int:
        """Publish one batch; return how many events the broker confirmed."""
        pending = self.store.pending_events(self.batch)
        confirmed: list[str] = []
        try:
            for message in pending:
                try:
                    self._channel.basic_publish(
                        self.topology.exchange,
                        message.routing_key,
                        message.body.encode("utf-8"),
                        message_properties(message, self.origin),
                        mandatory=True,
                    )
                except (UnroutableError, NackError) as exc:
                    # Kept in the outbox and retried: the alternate exchange
                    # should make this impossible, so it needs an operator.
                    log.error("broker refused event %s (%s): %s", message.id, message.routing_key, exc)
                    break
                confirmed.append(message.id)
        finally:
            if confirmed:
                self.store.mark_published(confirmed)
                self.published += len(confirmed)
        return len(confirmed)

    def _wait(self, listener: Listener | None, last_batch: int) -> None:
        """Between batches: wait for a write, keeping the connection serviced
        (heartbeats, the broker's flow control).

        Woken by a write, publish at once, unless the last batch held more
        than one event: writes are then arriving faster than one at a time,
        and gathering them for ``coalesce`` seconds publishes them in one
        batch (one outbox read and one delete instead of one per event)."""
        if listener is None:
            self._poll = self.interval if last_batch else min(self._poll * 2, self.poll_max)
            self._connection.sleep(self._poll)
            return
        if listener.wait(self.idle_interval) and last_batch > 1:
            self._connection.sleep(self.coalesce)
        else:
            self._connection.process_data_events(time_limit=0)

    def run(self) -> None:
        listener = self._listener = Listener.open(self.store.relay_address())
        try:
            self._run(listener)
        finally:
            self._listener = None
            if listener is not None:
                listener.close()

    def _run(self, listener: Listener | None) -> None:
        while not self.stopping.is_set():
            try:
                if self._channel is None:
                    self._open()
                sent = self.publish_pending()
                if sent < self.batch:
                    self._wait(listener, sent)
            except (BrokerUnavailable, AMQPError, OSError) as exc:
                log.warning("relay: broker unavailable, retrying in %.1fs: %s", self._backoff, exc)
                self._close()
                self._retry_later()
            except StorageUnavailable as exc:
                log.warning("relay: storage unavailable, retrying in %.1fs: %s", self._backoff, exc)
                self._retry_later()
        self._close()
