"""incidencias_apertura's background process: outbox relay, the consumers of
resolucion's incident events and of customer events, and the auto-close."""
from __future__ import annotations

from common.http.service import build_store
from common.logs import configure_logging
from common.messaging import Consumer, OutboxRelay, ProcessedEvents, Topology
from common.worker import Periodic, run_worker

from .config import AperturaSettings
from .handlers import AperturaHandlers
from .repository import ClienteReplica, IncidenciaRepository, NotificationRepository


def build_parts(settings: AperturaSettings) -> list:
    store = build_store(settings)
    handlers = AperturaHandlers(IncidenciaRepository(store), ClienteReplica(store), NotificationRepository(store))
    topology = Topology(settings.exchange)
    processed = ProcessedEvents(store)
    common = dict(
        amqp_url=settings.amqp_url, topology=topology, service=settings.service_name, processed=processed,
        max_deliveries=settings.max_deliveries, prefetch=settings.amqp_prefetch,
        heartbeat=settings.amqp_heartbeat, blocked_timeout=settings.amqp_blocked_timeout,
    )
    return [
        OutboxRelay(store, settings.amqp_url, topology, settings.service_name, interval=settings.relay_interval,
                    heartbeat=settings.amqp_heartbeat, blocked_timeout=settings.amqp_blocked_timeout),
        Consumer(name="incidencias", handlers=handlers.routes(), **common),
        Consumer(name="clientes", handlers=handlers.cliente_routes(), **common),
        Periodic("autocierre", settings.autocierre_intervalo,
                 lambda: handlers.close_expired(settings.autocierre_dias)),
    ]


def main() -> None:
    settings = AperturaSettings()
    configure_logging(f"{settings.service_name}.worker", settings.log_level)
    run_worker(settings.service_name, settings.amqp_url, build_parts(settings))


if __name__ == "__main__":
    main()
