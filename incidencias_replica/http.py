"""What both incident services' HTTP layers share: who is acting, and how a
refused transition is answered (registered once per app)."""
from __future__ import annotations

from common.http.auth import current_principal
from common.http.problems import Problem
from incidencias_dominio import Actor, ConflictoDeEstado


def current_actor() -> Actor:
    """The signed-in person, as the domain records who did something."""
    principal = current_principal()
    return Actor(principal.id, principal.rol, principal.nombre)


def conflict_problem(exc: ConflictoDeEstado) -> Problem:
    """409 naming the current state (and its owner, or the refused target)."""
    return Problem(409, "Conflicto de estado", str(exc), slug="conflicto-estado",
                   estado=exc.estado_actual.value, **exc.as_dict())


PROBLEMS = {ConflictoDeEstado: conflict_problem}
