"""incidencias_apertura's background process: outbox relay, the consumers of
resolucion's incident events and of customer events, the auto-close, and
the reminders and closes of questions left unanswered."""
from __future__ import annotations

from common.worker import Periodic, consumers_for, mail_sender_for, relay_for, serve_worker

from . import bootstrap, events, services
from .config import AperturaSettings
from .handlers import AperturaHandlers


def build_parts(settings: AperturaSettings) -> list:
    components = bootstrap.build(settings)
    handlers = AperturaHandlers(components)
    return [
        relay_for(settings, components.store),
        *consumers_for(settings, components.store, events.CONSUMERS, handlers),
        *mail_sender_for(settings, components.store),
        Periodic("autocierre", settings.autocierre_intervalo,
                 lambda: services.cerrar_vencidas(components.incidencias, settings.autocierre_dias)),
        Periodic("esperas", settings.autocierre_intervalo,
                 lambda: services.recordar_y_cerrar_esperas(components.incidencias, components.notificaciones,
                                                            components.clientes, settings.portal_url,
                                                            settings.espera_dias)),
    ]


def main() -> None:
    serve_worker(AperturaSettings(), build_parts)


if __name__ == "__main__":
    main()
