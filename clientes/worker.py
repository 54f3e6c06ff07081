"""clientes' background process: its outbox relay, and a consumer of the
employee events that keeps the staff replica its token checks read."""
from __future__ import annotations

from common.worker import consumers_for, mail_sender_for, relay_for, serve_worker

from . import bootstrap, events
from .config import ClientesSettings
from .handlers import ClientesHandlers


def build_parts(settings: ClientesSettings) -> list:
    components = bootstrap.build(settings)
    handlers = ClientesHandlers(components.personal)
    return [
        relay_for(settings, components.store),
        *consumers_for(settings, components.store, events.CONSUMERS, handlers),
        *mail_sender_for(settings, components.store),
    ]


def main() -> None:
    serve_worker(ClientesSettings(), build_parts)


if __name__ == "__main__":
    main()
