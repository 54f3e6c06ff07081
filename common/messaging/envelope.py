"""The event envelope every service publishes and consumes (DESIGN §4)."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.clock import rfc3339, utc_now
from common.context import current_correlation_id
from common.storage import OutboxMessage

REQUIRED_FIELDS = ("id", "tipo", "ocurrido_en", "origen", "datos")


class InvalidEnvelope(ValueError):
    """A message that can never be processed (dead-lettered, not retried)."""


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Event:
    id: str
    tipo: str
    ocurrido_en: str
    origen: str
    correlation_id: str | None
    datos: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id, "tipo": self.tipo, "ocurrido_en": self.ocurrido_en,
                "origen": self.origen, "correlation_id": self.correlation_id, "datos": self.datos,
            },
            ensure_ascii=False, separators=(",", ":"),
        )

    def to_outbox(self) -> OutboxMessage:
        return OutboxMessage(self.id, self.tipo, self.to_json(), self.correlation_id)

    def replica_order(self, *, wins_ties: bool = False) -> str:
        """A key that orders the events of one record for a last-writer-wins
        replica: the record's own change counter (``datos.version``, when the
        publisher numbers its changes), then the time of the event, then
        ``wins_ties`` (say, a deactivation beats an update of the same instant),
        then the id so that the order is total."""
        version = self.datos.get("version")
        version = version if isinstance(version, int) and not isinstance(version, bool) and version >= 0 else 0
        return f"{version:012d}|{self.ocurrido_en}|{int(wins_ties)}|{self.id}"

    @classmethod
    def parse(cls, body: bytes | str) -> "Event":
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidEnvelope(f"body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidEnvelope("envelope is not a JSON object")
        missing = [f for f in REQUIRED_FIELDS if f not in data]
        if missing:
            raise InvalidEnvelope(f"envelope lacks {', '.join(missing)}")
        for name in ("id", "tipo", "ocurrido_en", "origen"):
            if not isinstance(data[name], str) or not data[name]:
                raise InvalidEnvelope(f"envelope field {name} must be a non-empty string")
        if not isinstance(data["datos"], dict):
            raise InvalidEnvelope("envelope field datos must be an object")
        correlation = data.get("correlation_id")
        return cls(
            data["id"], data["tipo"], data["ocurrido_en"], data["origen"],
            correlation if isinstance(correlation, str) else None, data["datos"],
        )


def make_event(tipo: str, datos: dict[str, Any], origen: str, at: datetime | None = None) -> Event:
    """A new event, carrying the correlation id of the request or message being handled."""
    return Event(new_id(), tipo, rfc3339(at or utc_now()), origen, current_correlation_id(), datos)
