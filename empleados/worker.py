"""empleados' background process: it relays its outbox and sends its mails (it consumes nothing)."""
from __future__ import annotations

from common.worker import mail_sender_for, relay_for, serve_worker

from . import bootstrap
from .config import EmpleadosSettings


def build_parts(settings: EmpleadosSettings) -> list:
    store = bootstrap.build(settings).store
    return [relay_for(settings, store), *mail_sender_for(settings, store)]


def main() -> None:
    serve_worker(EmpleadosSettings(), build_parts)


if __name__ == "__main__":
    main()
