"""Small helpers shared by the test tiers (the ones that wait on a running
system live in the harness package)."""
from __future__ import annotations

from harness.polling import free_port, wait_until

__all__ = ["free_port", "wait_until"]
