"""incidencias_apertura's background process: outbox relay, the consumers of
resolucion's incident events and of customer events, and the auto-close."""
from __future__ import annotations

from common.worker import Periodic, consumers_for, relay_for, serve_worker

from . import bootstrap, services
from .config import AperturaSettings
from .handlers import AperturaHandlers


# Each consumer's own queue is <exchange>.incidencias_apertura.<name>.
CONSUMERS = {"incidencias": AperturaHandlers.routes, "clientes": AperturaHandlers.cliente_routes}


def build_parts(settings: AperturaSettings) -> list:
    components = bootstrap.build(settings)
    handlers = AperturaHandlers(components)
    return [
        relay_for(settings, components.store),
        *consumers_for(settings, components.store, CONSUMERS, handlers),
        Periodic("autocierre", settings.autocierre_intervalo,
                 lambda: services.cerrar_vencidas(components.incidencias, settings.autocierre_dias)),
    ]


def main() -> None:
    serve_worker(AperturaSettings(), build_parts)


if __name__ == "__main__":
    main()
