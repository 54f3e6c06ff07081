"""incidencias_resolucion's background process: outbox relay, consumers of
apertura's incident events, employee and customer events, and a periodic
sweep that assigns whatever is still waiting."""
from __future__ import annotations

from common.http.service import build_store
from common.logs import configure_logging
from common.messaging import Consumer, OutboxRelay, ProcessedEvents, Topology
from common.worker import Periodic, run_worker

from .config import ResolucionSettings
from .handlers import ResolucionHandlers
from .repository import EmpleadoReplica, IncidenciaRepository, ParkedEvents


def build_parts(settings: ResolucionSettings) -> list:
    store = build_store(settings)
    handlers = ResolucionHandlers(IncidenciaRepository(store), EmpleadoReplica(store), ParkedEvents(store))
    topology = Topology(settings.exchange)
    common = dict(
        amqp_url=settings.amqp_url, topology=topology, service=settings.service_name,
        processed=ProcessedEvents(store), max_deliveries=settings.max_deliveries,
        prefetch=settings.amqp_prefetch, heartbeat=settings.amqp_heartbeat,
        blocked_timeout=settings.amqp_blocked_timeout,
    )
    return [
        OutboxRelay(store, settings.amqp_url, topology, settings.service_name, interval=settings.relay_interval,
                    heartbeat=settings.amqp_heartbeat, blocked_timeout=settings.amqp_blocked_timeout),
        Consumer(name="incidencias", handlers=handlers.routes(), **common),
        Consumer(name="empleados", handlers=handlers.empleado_routes(), **common),
        Consumer(name="clientes", handlers=handlers.cliente_routes(), **common),
        Periodic("reparto", settings.reparto_intervalo, handlers.assign_waiting),
    ]


def main() -> None:
    settings = ResolucionSettings()
    configure_logging(f"{settings.service_name}.worker", settings.log_level)
    run_worker(settings.service_name, settings.amqp_url, build_parts(settings))


if __name__ == "__main__":
    main()
