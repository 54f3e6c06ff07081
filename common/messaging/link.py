"""What the outbox relay and every consumer share: one blocking connection
of their own thread, opened and closed the same way, and the growing wait
before the next attempt while the broker (or the store) is down."""
from __future__ import annotations

import threading

import pika
from pika.exceptions import AMQPError

from .broker import connect

FIRST_BACKOFF = 0.1


class BrokerLink:
    def __init__(self, amqp_url: str, heartbeat: int, blocked_timeout: float, max_backoff: float):
        self.amqp_url = amqp_url
        self.heartbeat = heartbeat
        self.blocked_timeout = blocked_timeout
        self.max_backoff = max_backoff
        self.stopping = threading.Event()
        self._connection: pika.BlockingConnection | None = None
        self._backoff = FIRST_BACKOFF

    def stop(self) -> None:
        self.stopping.set()

    def _connect(self, name: str) -> pika.BlockingConnection:
        """Open this thread's connection (raises BrokerUnavailable)."""
        self._connection = connect(self.amqp_url, name, self.heartbeat, self.blocked_timeout)
        return self._connection

    def _connected(self) -> None:
        """Connected and set up: the next outage waits from the start again."""
        self._backoff = FIRST_BACKOFF

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except AMQPError:
                pass

    def _retry_later(self) -> float:
        """Wait before the next attempt (unless stopping), twice as long as the last time."""
        waited = self._backoff
        self.stopping.wait(waited)
        self._backoff = min(waited * 2, self.max_backoff)
        return waited
