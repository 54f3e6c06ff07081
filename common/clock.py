"""The instants every layer records: now in UTC, and its RFC 3339 text.
Standard library only, so a module that needs the time (the idempotency
records, the portal's imports of them) does not load the broker client with
``common.messaging``, which re-exports these."""
from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
