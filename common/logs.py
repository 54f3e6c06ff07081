"""JSON logs with the service name and the correlation id on every line."""
from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from common.context import current_correlation_id


class _ContextFilter(logging.Filter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.correlation_id = current_correlation_id()
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(correlation_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_ContextFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # pika logs every failed connection attempt as an error; the relay and
    # consumers already log one line per outage with the way out.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
