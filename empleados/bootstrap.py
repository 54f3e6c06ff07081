"""Builds empleados' components, for its app and its worker alike (in each
process, after the fork)."""
from __future__ import annotations

from dataclasses import dataclass

from common.http.service import build_store
from common.storage import Store
from common.throttle import LoginThrottle
from common.tokens import Principal, TokenIssuer, TokenVerifier, TrustedIssuer
from cuentas.emisores import EMPLEADOS, issuer_for
from cuentas.roles import ROLES_PERSONAL
from cuentas.solicitudes import SolicitudThrottle

from .config import EmpleadosSettings
from .repository import OUTBOX, EmpleadoRepository


@dataclass
class Components:
    settings: EmpleadosSettings
    store: Store
    verifier: TokenVerifier
    empleados: EmpleadoRepository
    issuer: TokenIssuer
    throttle: LoginThrottle
    solicitudes: SolicitudThrottle

    def is_revoked(self, principal: Principal) -> bool:
        """An employee token stops working once its account is deactivated,
        given another role (the employee logs in again for the new one) or
        its password changed after the token was issued."""
        return principal.issuer == EMPLEADOS and self.empleados.revokes(principal)


def build(settings: EmpleadosSettings) -> Components:
    store = build_store(settings, OUTBOX)
    issuer = issuer_for(settings, EMPLEADOS)
    return Components(
        settings=settings, store=store,
        # Only staff tokens mean anything here: customer tokens are not
        # trusted at all (and no request waits on the clientes JWKS).
        verifier=TokenVerifier(settings.jwt_audience, [TrustedIssuer.local(issuer, ROLES_PERSONAL)]),
        empleados=EmpleadoRepository(store), issuer=issuer,
        throttle=LoginThrottle(store, settings.login_max_failures, settings.login_window_seconds),
        solicitudes=SolicitudThrottle(store, settings.login_max_failures, settings.login_window_seconds),
    )
