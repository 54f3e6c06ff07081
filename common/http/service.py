"""Building blocks of the application factories: the store and the
readiness checks."""
from __future__ import annotations

from common.config import Settings
from common.http.health import CachedCheck
from common.messaging import check_broker
from common.storage import CollectionSpec, Store, open_store


def build_store(settings: Settings, outbox: tuple[CollectionSpec, ...] = ()) -> Store:
    """The service's store; ``outbox`` names the collections whose writes carry events."""
    return open_store(settings.storage_url, outbox)


def readiness_checks(settings: Settings, store: Store) -> dict:
    broker = CachedCheck(lambda: check_broker(settings.amqp_url, timeout=2.0), ttl=5.0)

    def storage() -> dict:
        store.ping()
        return {"tipo": "mongodb" if settings.mongo_url else "sqlite",
                "eventos_pendientes": len(store.pending_events(1000))}

    def rabbitmq() -> None:
        broker()

    return {"almacenamiento": storage, "rabbitmq": rabbitmq}
