"""A call run in a daemon thread of its own, its answer as a future.

For a call that may never return (a broker that went silent): the caller
waits on the future with a deadline, and a thread left behind never keeps
the process alive."""
from __future__ import annotations

import threading
from concurrent import futures
from typing import Callable, TypeVar

T = TypeVar("T")


def in_daemon_thread(call: Callable[[], T], name: str | None = None) -> "futures.Future[T]":
    answer: futures.Future = futures.Future()

    def run() -> None:
        try:
            answer.set_result(call())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
            answer.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return answer
