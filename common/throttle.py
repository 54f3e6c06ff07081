"""Throttling of failed logins, shared by all the processes of a service
through its store (a per-process memory counter would multiply the limit
by the number of gunicorn workers)."""
from __future__ import annotations

import hashlib
import time

from common.storage import CollectionSpec, DuplicateKeyError, Store

ATTEMPTS = CollectionSpec("intentos_login")


class LoginThrottle:
    def __init__(self, store: Store, max_failures: int, window_seconds: int):
        self.collection = store.collection(ATTEMPTS)
        self.max_failures = max_failures
        self.window = window_seconds

    @staticmethod
    def _key(kind: str, value: str) -> str:
        return f"{kind}:" + hashlib.sha256(value.lower().encode()).hexdigest()

    def _keys(self, email: str, ip: str) -> list[tuple[str, int]]:
        # Per account, and per client address with a wider allowance so that
        # spraying many accounts from one address is throttled too.
        return [(self._key("email", email), self.max_failures), (self._key("ip", ip), self.max_failures * 4)]

    def retry_after(self, email: str, ip: str) -> int:
        """Seconds to wait before trying again, 0 when allowed."""
        now = time.time()
        wait = 0
        for key, limit in self._keys(email, ip):
            doc = self.collection.get(key)
            if doc and doc["hasta"] > now and doc["fallos"] >= limit:
                wait = max(wait, int(doc["hasta"] - now) + 1)
        return wait

    def failed(self, email: str, ip: str) -> None:
        for key, _limit in self._keys(email, ip):
            self._bump(key)

    def succeeded(self, email: str) -> None:
        self.collection.delete(self._key("email", email))

    def _bump(self, key: str) -> None:
        for _ in range(5):
            now = time.time()
            doc = self.collection.get(key)
            if doc is None:
                try:
                    self.collection.insert({"id": key, "fallos": 1, "hasta": now + self.window})
                    return
                except DuplicateKeyError:
                    continue
            if doc["hasta"] <= now:
                doc.update(fallos=1, hasta=now + self.window)
            else:
                doc["fallos"] += 1
            if self.collection.replace(doc) is not None:
                return
