"""clientes' background process: its outbox relay, and a consumer of the
employee events that keeps the staff replica its token checks read."""
from __future__ import annotations

from common.http.service import build_store
from common.logs import configure_logging
from common.messaging import Consumer, OutboxRelay, ProcessedEvents, Topology
from common.worker import run_worker

from .config import ClientesSettings
from .handlers import ClientesHandlers
from .repository import ClienteRepository, StaffReplica


def build_parts(settings: ClientesSettings) -> list:
    store = build_store(settings)
    ClienteRepository(store)  # registers the collections whose events are relayed
    handlers = ClientesHandlers(StaffReplica(store))
    topology = Topology(settings.exchange)
    return [
        OutboxRelay(store, settings.amqp_url, topology, settings.service_name, interval=settings.relay_interval,
                    heartbeat=settings.amqp_heartbeat, blocked_timeout=settings.amqp_blocked_timeout),
        Consumer(amqp_url=settings.amqp_url, topology=topology, service=settings.service_name,
                 name="empleados", handlers=handlers.empleado_routes(), processed=ProcessedEvents(store),
                 max_deliveries=settings.max_deliveries, prefetch=settings.amqp_prefetch,
                 heartbeat=settings.amqp_heartbeat, blocked_timeout=settings.amqp_blocked_timeout),
    ]


def main() -> None:
    settings = ClientesSettings()
    configure_logging(f"{settings.service_name}.worker", settings.log_level)
    run_worker(settings.service_name, settings.amqp_url, build_parts(settings))


if __name__ == "__main__":
    main()
