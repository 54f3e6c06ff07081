"""Builds clientes' components, for its app and its worker alike (in each
process, after the fork)."""
from __future__ import annotations

from dataclasses import dataclass

from common.http.service import build_store
from common.storage import Store
from common.throttle import LoginThrottle
from common.tokens import Principal, TokenIssuer, TokenVerifier
from cuentas.emisores import CLIENTES, issuer_for, trusted_issuers
from cuentas.personal import PersonalReplica
from cuentas.solicitudes import SolicitudThrottle

from .config import ClientesSettings
from .repository import OUTBOX, ClienteRepository


@dataclass
class Components:
    settings: ClientesSettings
    store: Store
    verifier: TokenVerifier
    clientes: ClienteRepository
    personal: PersonalReplica
    issuer: TokenIssuer
    throttle: LoginThrottle
    solicitudes: SolicitudThrottle

    def is_revoked(self, principal: Principal) -> bool:
        """A customer token stops working once its account is erased or its
        password changed after it was issued; a staff token once its
        employee is deactivated or given another role."""
        if principal.issuer == CLIENTES:
            return self.clientes.revokes(principal)
        return self.personal.revokes(principal)


def build(settings: ClientesSettings) -> Components:
    store = build_store(settings, OUTBOX)
    issuer = issuer_for(settings, CLIENTES)
    return Components(
        settings=settings, store=store,
        verifier=TokenVerifier(settings.jwt_audience, trusted_issuers(settings, issuer)),
        clientes=ClienteRepository(store), personal=PersonalReplica(store), issuer=issuer,
        throttle=LoginThrottle(store, settings.login_max_failures, settings.login_window_seconds),
        solicitudes=SolicitudThrottle(store, settings.login_max_failures, settings.login_window_seconds),
    )
