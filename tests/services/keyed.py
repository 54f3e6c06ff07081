"""Keyed requests as the HTTP layer hands them to a use case
(``common.idempotency.IdempotentRequest``): the fingerprint stands for what
was sent (any string that differs when the request does), so the tier stays
free of Flask."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from common.idempotency import IdempotentRequest


def keyed(key: str = "k-1", scope: str = "c1", sent: Any = None, status: int = 200) -> IdempotentRequest:
    """A fresh request with ``key``, of the caller ``scope``, that sent ``sent``."""
    fingerprint = hashlib.sha256(json.dumps(sent, sort_keys=True, default=str).encode()).hexdigest()
    return IdempotentRequest(key, scope, fingerprint, status)
