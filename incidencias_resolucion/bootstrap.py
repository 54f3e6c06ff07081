"""Builds incidencias_resolucion's components, for its app and its worker
alike (in each process, after the fork)."""
from __future__ import annotations

from dataclasses import dataclass

from common.http.service import build_store
from common.storage import Store
from common.tokens import Principal, TokenVerifier
from cuentas.emisores import trusted_issuers
from cuentas.personal import PersonalReplica
from incidencias_replica.sla import PoliticaSlaStore

from .config import ResolucionSettings
from .repository import (
    OUTBOX, EtiquetaRepository, IncidenciaRepository, NotificacionEquipoRepository, ParkedEvents, RespuestaRepository,
    empleado_replica,
)


@dataclass
class Components:
    settings: ResolucionSettings
    store: Store
    verifier: TokenVerifier
    incidencias: IncidenciaRepository
    empleados: PersonalReplica
    aparcados: ParkedEvents
    respuestas: RespuestaRepository
    etiquetas: EtiquetaRepository
    politicas: PoliticaSlaStore
    notificaciones: NotificacionEquipoRepository

    def is_revoked(self, principal: Principal) -> bool:
        """A deactivated or demoted employee's token stops working as soon as
        empleado.baja or the change of role arrives."""
        return self.empleados.revokes(principal)


def build(settings: ResolucionSettings) -> Components:
    store = build_store(settings, OUTBOX)
    return Components(
        settings=settings, store=store,
        verifier=TokenVerifier(settings.jwt_audience, trusted_issuers(settings)),
        incidencias=IncidenciaRepository(store), empleados=empleado_replica(store), aparcados=ParkedEvents(store),
        respuestas=RespuestaRepository(store), etiquetas=EtiquetaRepository(store),
        politicas=PoliticaSlaStore(store), notificaciones=NotificacionEquipoRepository(store),
    )
