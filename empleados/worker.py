"""empleados' background process: it relays its outbox (it consumes nothing)."""
from __future__ import annotations

from common.http.service import build_store
from common.logs import configure_logging
from common.messaging import OutboxRelay, Topology
from common.worker import run_worker

from .config import EmpleadosSettings
from .repository import EmpleadoRepository


def main() -> None:
    settings = EmpleadosSettings()
    configure_logging(f"{settings.service_name}.worker", settings.log_level)
    store = build_store(settings)
    EmpleadoRepository(store)  # registers the collections whose events are relayed
    relay = OutboxRelay(
        store, settings.amqp_url, Topology(settings.exchange), settings.service_name,
        interval=settings.relay_interval, heartbeat=settings.amqp_heartbeat,
        blocked_timeout=settings.amqp_blocked_timeout,
    )
    run_worker(settings.service_name, settings.amqp_url, [relay])


if __name__ == "__main__":
    main()
