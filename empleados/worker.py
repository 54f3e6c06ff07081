"""empleados' background process: it relays its outbox (it consumes nothing)."""
from __future__ import annotations

from common.worker import relay_for, serve_worker

from . import bootstrap
from .config import EmpleadosSettings


def build_parts(settings: EmpleadosSettings) -> list:
    return [relay_for(settings, bootstrap.build(settings).store)]


def main() -> None:
    serve_worker(EmpleadosSettings(), build_parts)


if __name__ == "__main__":
    main()
