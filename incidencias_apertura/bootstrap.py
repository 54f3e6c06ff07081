"""Builds incidencias_apertura's components, for its app and its worker
alike (in each process, after the fork)."""
from __future__ import annotations

from dataclasses import dataclass

from common.http.service import build_store
from common.storage import Store
from common.tokens import Principal, TokenVerifier
from cuentas.emisores import CLIENTES, trusted_issuers
from cuentas.personal import PersonalReplica
from incidencias_replica.sla import PoliticaSlaStore

from .config import AperturaSettings
from .repository import OUTBOX, ClienteReplica, IncidenciaRepository, NotificacionRepository


@dataclass
class Components:
    settings: AperturaSettings
    store: Store
    verifier: TokenVerifier
    incidencias: IncidenciaRepository
    clientes: ClienteReplica
    notificaciones: NotificacionRepository
    personal: PersonalReplica
    politicas: PoliticaSlaStore

    def is_revoked(self, principal: Principal) -> bool:
        """A customer deleted in clientes loses access here as soon as the
        event arrives, and a session issued before their last password change
        as soon as the ``cliente.actualizado`` that says so does; a staff
        token (an employee taking a call) once its employee is deactivated or
        given another role."""
        if principal.issuer == CLIENTES:
            return self.clientes.revokes(principal)
        return self.personal.revokes(principal)


def build(settings: AperturaSettings) -> Components:
    store = build_store(settings, OUTBOX)
    return Components(
        settings=settings, store=store,
        verifier=TokenVerifier(settings.jwt_audience, trusted_issuers(settings)),
        incidencias=IncidenciaRepository(store), clientes=ClienteReplica(store),
        notificaciones=NotificacionRepository(store), personal=PersonalReplica(store),
        politicas=PoliticaSlaStore(store),
    )
