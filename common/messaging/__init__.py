"""Domain events over one RabbitMQ topic exchange, through pika."""
from .broker import BrokerUnavailable, Topology, check_broker, connect, redact
from .consumer import Consumer, Handler, PermanentError
from .envelope import Event, InvalidEnvelope, make_event, new_id, rfc3339, utc_now
from .idempotency import ProcessedEvents
from .relay import OutboxRelay

__all__ = [
    "BrokerUnavailable", "Consumer", "Event", "Handler", "InvalidEnvelope", "OutboxRelay",
    "PermanentError", "ProcessedEvents", "Topology", "check_broker", "connect", "make_event",
    "new_id", "redact", "rfc3339", "utc_now",
]
