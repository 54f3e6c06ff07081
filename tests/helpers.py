"""Small helpers shared by the test tiers (the ones that wait on a running
system live in the harness package)."""
from __future__ import annotations

import threading
from concurrent import futures
from typing import Callable

from harness.polling import free_port, wait_until

__all__ = ["free_port", "in_thread", "wait_until"]


def in_thread(call: Callable[[], object]) -> futures.Future:
    """``call()`` started in a daemon thread; its future. Wait on it with a
    deadline (``wait_until(future.done, ...)``): a call that never returns
    then fails the test instead of hanging it, and does not keep the test
    process alive."""
    answer: futures.Future = futures.Future()

    def run() -> None:
        try:
            answer.set_result(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            answer.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return answer
