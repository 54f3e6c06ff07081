"""The instants every layer records: now in UTC, and its RFC 3339 text.
Standard library only, so a module that needs the time (the idempotency
records, the portal's imports of them) does not load the broker client with
``common.messaging``, which re-exports these.

For tests only, the clock can be moved forward: with ``ENVIRONMENT=test``
and ``TEST_CLOCK_FILE`` naming a file, ``utc_now`` adds the seconds that
file holds (re-read at most every ``TEST_CLOCK_REREAD`` seconds), so an
end-to-end test can take every process of a running system past a
deadline. Outside ``ENVIRONMENT=test`` the variable is ignored here, and
``common.config.Settings`` refuses to start with it set at all."""
from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

TEST_CLOCK_VARIABLE = "TEST_CLOCK_FILE"
TEST_CLOCK_REREAD = 0.05


def _test_clock_file() -> str | None:
    if os.environ.get("ENVIRONMENT", "").lower() != "test":
        return None
    return os.environ.get(TEST_CLOCK_VARIABLE) or None


_UNREAD = object()
_file: object = _UNREAD  # the environment is read at the first call, not at import
_offset = timedelta(0)
_read_at = float("-inf")


def _test_offset() -> timedelta:
    global _offset, _read_at
    now = time.monotonic()
    if now - _read_at >= TEST_CLOCK_REREAD:
        _read_at = now
        try:
            with open(_file, encoding="ascii") as f:  # type: ignore[arg-type]
                _offset = timedelta(seconds=float(f.read().strip() or 0))
        except (OSError, ValueError):
            _offset = timedelta(0)
    return _offset


def utc_now() -> datetime:
    global _file
    if _file is None:
        return datetime.now(timezone.utc)
    if _file is _UNREAD:
        _file = _test_clock_file()
        return utc_now()
    return datetime.now(timezone.utc) + _test_offset()


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
