"""Small helpers shared by the test tiers (the ones that wait on a running
system live in the harness package). ``in_thread(call)`` runs a call that may
never return in a daemon thread: wait on its future with a deadline
(``wait_until(future.done, ...)``), so the test fails instead of hanging."""
from __future__ import annotations

from common.threads import in_daemon_thread as in_thread
from harness.polling import free_port, wait_until

__all__ = ["free_port", "in_thread", "wait_until"]
