"""The instants every layer records: now in UTC, and its RFC 3339 text.
Standard library only, so a module that needs the time (the idempotency
records, the portal's imports of them) does not load the broker client with
``common.messaging``, which re-exports these.

For tests only, the clock can be moved forward: with ``ENVIRONMENT=test``
and ``TEST_CLOCK_FILE`` naming a file, ``utc_now`` adds the seconds that
file holds (read again whenever the file changes, so a request sent right
after the test moves the clock sees it), so an end-to-end test can take
every process of a running system past a deadline. The test should replace
the file whole (write another, then rename it); a file that cannot be read
leaves the last offset read. Outside ``ENVIRONMENT=test`` the variable is ignored here, and
``common.config.Settings`` refuses to start with it set at all."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

TEST_CLOCK_VARIABLE = "TEST_CLOCK_FILE"


def _test_clock_file() -> str | None:
    if os.environ.get("ENVIRONMENT", "").lower() != "test":
        return None
    return os.environ.get(TEST_CLOCK_VARIABLE) or None


_UNREAD = object()
_file: object = _UNREAD  # the environment is read at the first call, not at import
_offset = timedelta(0)
_read_version: tuple[int, int] | None = None  # the file's (mtime, inode) when it was read


def _test_offset() -> timedelta:
    global _offset, _read_version
    try:
        stat = os.stat(_file)  # type: ignore[arg-type]
        version = (stat.st_mtime_ns, stat.st_ino)
        if version != _read_version:
            with open(_file, encoding="ascii") as f:  # type: ignore[arg-type]
                _offset = timedelta(seconds=float(f.read().strip()))  # half written: ValueError
            _read_version = version
    except (OSError, ValueError):
        pass  # the last offset read stands
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
