"""How long the outbox relay waits between looks, without a broker: its
connection is a fake that records each wait (the only thing faked: what is
measured is the relay's own choice of wait, not RabbitMQ)."""
from __future__ import annotations

from common.messaging.broker import Topology
from common.messaging.relay import OutboxRelay
from common.storage.memory import MemoryStore


class RecordingConnection:
    def __init__(self):
        self.sleeps: list[float] = []
        self.serviced = 0

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def process_data_events(self, time_limit: float = 0) -> None:
        self.serviced += 1


class QuietListener:
    """A doorbell nobody rings: records the timeout of each wait."""

    def __init__(self):
        self.timeouts: list[float] = []

    def wait(self, timeout: float) -> bool:
        self.timeouts.append(timeout)
        return False


def relay(**kwargs) -> OutboxRelay:
    r = OutboxRelay(MemoryStore(), "amqp://guest:guest@127.0.0.1:5672/%2F", Topology("t"), "svc", **kwargs)
    r._connection = RecordingConnection()
    return r


def test_without_a_doorbell_each_empty_look_doubles_the_wait_up_to_poll_max_and_an_event_resets_it():
    r = relay(interval=0.02, poll_max=0.5)
    for _ in range(7):
        r._wait(None, 0)
    r._wait(None, 3)
    r._wait(None, 0)
    assert r._connection.sleeps == [0.04, 0.08, 0.16, 0.32, 0.5, 0.5, 0.5, 0.02, 0.04]


def test_with_a_doorbell_an_idle_relay_waits_the_idle_interval_for_a_ring():
    r = relay(interval=0.02, idle_interval=5.0)
    listener = QuietListener()
    r._wait(listener, 0)
    r._wait(listener, 0)
    assert listener.timeouts == [5.0, 5.0]
    assert r._connection.sleeps == [] and r._connection.serviced == 2


def test_the_doorbell_wait_is_at_most_half_a_heartbeat_so_the_connection_stays_alive():
    r = relay(interval=0.02, idle_interval=5.0, heartbeat=2)
    listener = QuietListener()
    r._wait(listener, 0)
    assert listener.timeouts == [1.0] and r._connection.serviced == 1
