"""incidencias_resolucion's background process: outbox relay, consumers of
apertura's incident events, employee and customer events, a periodic
sweep that assigns whatever is still waiting, and a periodic look at the
service levels that warns before and at a breach."""
from __future__ import annotations

from common.worker import Periodic, consumers_for, mail_sender_for, relay_for, serve_worker

from . import bootstrap, events
from .config import ResolucionSettings
from .handlers import ResolucionHandlers


def build_parts(settings: ResolucionSettings) -> list:
    components = bootstrap.build(settings)
    handlers = ResolucionHandlers(components)
    return [
        relay_for(settings, components.store),
        *consumers_for(settings, components.store, events.CONSUMERS, handlers),
        *mail_sender_for(settings, components.store),
        Periodic("reparto", settings.reparto_intervalo, handlers.repartir),
        Periodic("plazos", settings.plazos_intervalo, handlers.vigilar_plazos),
    ]


def main() -> None:
    serve_worker(ResolucionSettings(), build_parts)


if __name__ == "__main__":
    main()
