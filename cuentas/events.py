"""The events an account service publishes about its accounts:
``<entidad>.<what happened>``, most of them carrying the account's public
data (``public_data()``: never the password, its hash or a link token)."""
from __future__ import annotations

from typing import Callable

from common.messaging import Event, make_event

from .cuenta import Cuenta


class CuentaEvents:
    def __init__(self, entidad: str, origin: str):
        self.entidad, self.origin = entidad, origin

    def event(self, tipo: str, datos: dict) -> Event:
        return make_event(f"{self.entidad}.{tipo}", datos, self.origin)

    def with_public_data(self, tipo: str) -> Callable[[Cuenta], Event]:
        """The builder of ``<entidad>.<tipo>`` events about an account, with its public data."""
        return lambda cuenta: self.event(tipo, cuenta.public_data())
