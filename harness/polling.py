"""Waiting for a running system: poll a condition until it holds or a
deadline passes (never a fixed sleep), and pick a free local port."""
from __future__ import annotations

import socket
import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02,
               message: str = "condition", give_up_on: tuple[type[BaseException], ...] = ()) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that;
    fail with AssertionError after ``timeout`` seconds. An exception raised
    by ``predicate`` counts as "not yet", except those in ``give_up_on``,
    which end the wait at once."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except give_up_on:
            raise
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}" +
                         (f" (last error: {last_error!r})" if last_error else ""))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
