"""How a refused incident transition is answered, registered once per app."""
from __future__ import annotations

from common.http.problems import Problem
from incidencias_dominio import ConflictoDeEstado


def conflict_problem(exc: ConflictoDeEstado) -> Problem:
    """409 naming the current state (and its owner, or the refused target)."""
    return Problem(409, "Conflicto de estado", str(exc), slug="conflicto-estado",
                   estado=exc.estado_actual.value, **exc.as_dict())


PROBLEMS = {ConflictoDeEstado: conflict_problem}
