"""The ceiling of the messaging stack: raw pika publish -> consume on the same
RabbitMQ, shaped like the services' traffic (a durable topic exchange, a
durable quorum queue, persistent ``mandatory`` messages on a channel in
confirm mode, a consumer with prefetch and manual acks), on a throwaway
exchange and queue that are deleted afterwards.

- rate: one publisher waiting for each confirm (as the outbox relay does)
  and one consumer, for a few seconds;
- latency: one message at a time, from the start of ``basic_publish`` to the
  consumer holding the message.
"""
from __future__ import annotations

import threading
import time
import uuid

import pika

from common.messaging.broker import connect

from .stats import summary_ms


class _Consumer(threading.Thread):
    def __init__(self, amqp_url: str, queue: str, prefetch: int):
        super().__init__(daemon=True)
        self.amqp_url, self.queue, self.prefetch = amqp_url, queue, prefetch
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.received: list[tuple[float, bytes]] = []

    def run(self) -> None:
        connection = connect(self.amqp_url, "bench.ceiling.consumer")
        try:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=self.prefetch)
            self.ready.set()
            for method, _props, body in channel.consume(self.queue, inactivity_timeout=0.2):
                if method is not None:
                    self.received.append((time.monotonic(), body))
                    channel.basic_ack(method.delivery_tag)
                if self.stopping.is_set():
                    break
            channel.cancel()
        finally:
            connection.close()


def _properties(n: int) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type="application/json", delivery_mode=pika.DeliveryMode.Persistent,
        message_id=uuid.uuid4().hex, type="bench.ceiling", app_id="bench",
        headers={"correlation_id": f"bench-{n}"},
    )


def measure(amqp_url: str, rate_seconds: float = 5.0, latency_messages: int = 300,
            latency_gap: float = 0.01, prefetch: int = 16, body_bytes: int = 1500) -> dict:
    """Run both measurements on a throwaway exchange and quorum queue."""
    name = f"bench.ceiling.{uuid.uuid4().hex[:8]}"
    queue = f"{name}.q"
    admin = connect(amqp_url, "bench.ceiling.admin")
    channel = admin.channel()
    channel.exchange_declare(name, "topic", durable=True)
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_bind(queue, name, routing_key="#")
    padding = b"x" * body_bytes  # about the size of an incident snapshot event
    try:
        consumer = _Consumer(amqp_url, queue, prefetch)
        consumer.start()
        consumer.ready.wait(10)
        publisher = connect(amqp_url, "bench.ceiling.publisher")
        pub = publisher.channel()
        pub.confirm_delivery()

        # Rate: publish with a confirm per message, as fast as that allows.
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < rate_seconds:
            pub.basic_publish(name, "bench.rate", b"R" + padding, _properties(sent), mandatory=True)
            sent += 1
        published_in = time.monotonic() - start
        deadline = time.monotonic() + 30
        while sum(1 for _t, b in consumer.received if b[:1] == b"R") < sent and time.monotonic() < deadline:
            publisher.sleep(0.01)
        rate_received = [t for t, b in consumer.received if b[:1] == b"R"]
        consumed_in = (max(rate_received) - start) if rate_received else float("nan")

        # Latency: one message at a time, the publish start time in the body.
        for n in range(latency_messages):
            pub.basic_publish(name, "bench.latency", b"L%.9f|" % time.monotonic() + padding,
                              _properties(n), mandatory=True)
            publisher.sleep(latency_gap)
        deadline = time.monotonic() + 10
        while sum(1 for _t, b in consumer.received if b[:1] == b"L") < latency_messages \
                and time.monotonic() < deadline:
            publisher.sleep(0.01)
        latencies = [t - float(b[1:b.index(b"|")]) for t, b in consumer.received if b[:1] == b"L"]
        consumer.stopping.set()
        consumer.join(5)
        publisher.close()
        return {
            "queue_type": "quorum",
            "message_bytes": body_bytes + 1,
            "confirmed_publish_rate": round(sent / published_in, 1),
            "publish_consume_rate": round(len(rate_received) / consumed_in, 1) if rate_received else None,
            "messages": sent,
            "latency": summary_ms(latencies),
        }
    finally:
        try:
            channel.queue_delete(queue)
            channel.exchange_delete(name)
        finally:
            admin.close()
