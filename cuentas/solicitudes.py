"""The throttle of anonymous requests that mail someone (the password
resets): counted per client address in the store the login throttle uses,
so all the processes of a service count the same requests. Per account,
the mails themselves are throttled on the account (``cuentas.enlaces``)."""
from __future__ import annotations

from common.throttle import LoginThrottle


class SolicitudThrottle(LoginThrottle):
    """``LoginThrottle`` counting every request (``failed``) per client
    address only, as the login does its failures per address: up to four
    times ``max_failures`` within the window. The e-mail is never a key
    here: counting it would let anyone lock an account's resets, and
    answering by it would tell which e-mails have an account."""

    def _keys(self, email: str, ip: str) -> list[tuple[str, int]]:
        return [(self._key("solicitud-ip", ip), self.max_failures * 4)]
