"""clientes' background process: its outbox relay, and a consumer of the
employee events that keeps the staff replica its token checks read."""
from __future__ import annotations

from common.worker import consumers_for, relay_for, serve_worker

from . import bootstrap
from .config import ClientesSettings
from .handlers import ClientesHandlers


# Each consumer's own queue is <exchange>.clientes.<name>.
CONSUMERS = {"empleados": ClientesHandlers.empleado_routes}


def build_parts(settings: ClientesSettings) -> list:
    components = bootstrap.build(settings)
    handlers = ClientesHandlers(components.personal)
    return [
        relay_for(settings, components.store),
        *consumers_for(settings, components.store, CONSUMERS, handlers),
    ]


def main() -> None:
    serve_worker(ClientesSettings(), build_parts)


if __name__ == "__main__":
    main()
