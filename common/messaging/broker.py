"""Connections to RabbitMQ and the shared topology.

Every process opens its own pika connections after it has started (never
before a gunicorn fork) and never shares one across threads.
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

import pika
from pika.adapters.utils import connection_workflow
from pika.adapters.blocking_connection import BlockingChannel

log = logging.getLogger(__name__)

DEAD_LETTER_SUFFIX = ".dlq"
START_HINT = "start one with `rabbitmq-server -detached` (or `docker run -p 5672:5672 rabbitmq`) or set AMQP_URL"


# Besides AMQPError and socket errors, pika's connection workflow raises its
# own exception types (e.g. AMQPConnectorStackTimeout when the handshake
# stalls on a busy or alarmed broker); none of them may kill a relay.
_CONNECT_ERRORS = (
    pika.exceptions.AMQPError,
    OSError,
    connection_workflow.AMQPConnectorException,
    connection_workflow.AMQPConnectionWorkflowFailed,
)


class BrokerUnavailable(RuntimeError):
    """RabbitMQ cannot be reached; the message is one line an operator can act on."""


def redact(url: str) -> str:
    """The URL without its password, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def connection_parameters(
    url: str, name: str, heartbeat: int = 30, blocked_timeout: float = 30.0
) -> pika.URLParameters:
    params = pika.URLParameters(url)
    params.heartbeat = heartbeat
    params.blocked_connection_timeout = blocked_timeout
    params.connection_attempts = 1
    params.socket_timeout = 5
    params.stack_timeout = 10
    params.client_properties = {"connection_name": name}
    return params


def connect(url: str, name: str, heartbeat: int = 30, blocked_timeout: float = 30.0,
            timeout: float | None = None) -> pika.BlockingConnection:
    """A connection, or BrokerUnavailable; ``timeout`` bounds every step of
    opening it (and a blocked connection) for a caller that must not wait long."""
    params = connection_parameters(url, name, heartbeat, blocked_timeout)
    if timeout is not None:
        params.socket_timeout = params.stack_timeout = params.blocked_connection_timeout = timeout
    try:
        return pika.BlockingConnection(params)
    except _CONNECT_ERRORS as exc:
        raise BrokerUnavailable(
            f"RabbitMQ is not reachable at {redact(url)} ({type(exc).__name__}); {START_HINT}"
        ) from exc


class Topology:
    """Names derived from the exchange, so a test can isolate itself with its own exchange."""

    def __init__(self, exchange: str):
        self.exchange = exchange
        self.dead_letter_exchange = f"{exchange}.dlx"
        self.unrouted_exchange = f"{exchange}.unrouted"
        self.unrouted_queue = f"{exchange}.unrouted"

    def queue_name(self, service: str, consumer: str) -> str:
        return f"{self.exchange}.{service}.{consumer}"

    @staticmethod
    def dead_letter_queue(queue: str) -> str:
        return f"{queue}{DEAD_LETTER_SUFFIX}"

    @staticmethod
    def dead_letter_source(dead_letter_queue: str) -> str:
        """The queue whose dead letters ``dead_letter_queue`` keeps (the inverse of ``dead_letter_queue``)."""
        if not dead_letter_queue.endswith(DEAD_LETTER_SUFFIX):
            raise ValueError(f"{dead_letter_queue!r} is not a dead-letter queue")
        return dead_letter_queue[: -len(DEAD_LETTER_SUFFIX)]

    def declare_exchanges(self, channel: BlockingChannel) -> None:
        """The topic exchange, with an alternate exchange that keeps any event no
        queue is bound for (instead of the broker dropping it), and the
        dead-letter exchange."""
        channel.exchange_declare(self.unrouted_exchange, "fanout", durable=True)
        channel.queue_declare(self.unrouted_queue, durable=True)
        channel.queue_bind(self.unrouted_queue, self.unrouted_exchange)
        channel.exchange_declare(
            self.exchange, "topic", durable=True,
            arguments={"alternate-exchange": self.unrouted_exchange},
        )
        channel.exchange_declare(self.dead_letter_exchange, "direct", durable=True)

    def declare_queue(
        self, channel: BlockingChannel, queue: str, routing_keys: list[str], max_deliveries: int
    ) -> None:
        """A durable quorum queue whose messages are dead-lettered, to their
        own ``.dlq``, after ``max_deliveries`` failed deliveries."""
        self.declare_exchanges(channel)
        dlq = self.dead_letter_queue(queue)
        # No x-delivery-limit here, on purpose: RabbitMQ 3.x reads -1 as 0 (a
        # message given back once would be dropped) and refuses a redeclaration
        # with another argument (PRECONDITION_FAILED). On RabbitMQ 4, whose
        # default limit is 20, a policy lifts it (docs/reliability.md).
        channel.queue_declare(dlq, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(dlq, self.dead_letter_exchange, routing_key=queue)
        channel.queue_declare(
            queue,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-dead-letter-exchange": self.dead_letter_exchange,
                "x-dead-letter-routing-key": queue,
                "x-delivery-limit": max_deliveries,
            },
        )
        for key in routing_keys:
            channel.queue_bind(queue, self.exchange, routing_key=key)


def check_broker(url: str, timeout: float = 3.0) -> None:
    """Open and close a connection; raise BrokerUnavailable with a one-line reason."""
    params = connection_parameters(url, "healthcheck", heartbeat=0)
    params.socket_timeout = timeout
    params.stack_timeout = timeout
    params.blocked_connection_timeout = timeout
    try:
        pika.BlockingConnection(params).close()
    except _CONNECT_ERRORS as exc:
        raise BrokerUnavailable(
            f"RabbitMQ is not reachable at {redact(url)} ({type(exc).__name__}); {START_HINT}"
        ) from exc
