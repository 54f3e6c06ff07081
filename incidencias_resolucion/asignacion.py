"""The auto-assignment policy: who gets an incident, as a pure function.

Choice order, each step only when the previous one leaves nobody:

1. role: active ``agente``s; supervisors only when no agent is available
   (admins are never auto-assigned);
2. skills: the employees whose ``categorias`` include the incident's
   categoria; else the generalists (empty ``categorias``); else anyone of
   that role, so an incident is never left unassigned while someone could
   take it. An incident without categoria goes to generalists first, so
   specialists keep their time for their own categories;
3. load: the fewest open incidents (``carga``, missing means 0), counted
   over ``ESTADOS_CON_CARGA``;
4. urgency, when the incident has a service level: among the equally
   loaded, the one whose own most urgent incident runs out last
   (``urgencia``: none at all is the freest), so the new one, urgent,
   goes to whom can take it first;
5. tie: the smallest id, so every worker makes the same choice.

Categories compare case-insensitively, ignoring surrounding spaces.
"""
from __future__ import annotations

from typing import Any, Callable, Collection, Mapping, Sequence

from cuentas.roles import ROLES_ASIGNABLES
from incidencias_dominio import Estado

ESTADOS_CON_CARGA = frozenset({Estado.ASIGNADA, Estado.EN_CURSO, Estado.REABIERTA})
"""States in which an incident counts towards its assignee's load (a
reabierta one goes back to the same employee)."""


def _norm(categoria: Any) -> str:
    return str(categoria).strip().casefold()


def _por_categoria(
    categoria: str | None, empleados: list[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    generalistas = [e for e in empleados if not e.get("categorias")]
    if categoria is not None and _norm(categoria):
        buscada = _norm(categoria)
        especialistas = [
            e for e in empleados if buscada in {_norm(c) for c in e.get("categorias") or ()}
        ]
        if especialistas:
            return especialistas
    return generalistas or empleados


def elegir_empleado(
    categoria: str | None,
    empleados: Sequence[Mapping[str, Any]],
    carga: Mapping[str, int],
    excluir: Collection[str] = frozenset(),
    urgencia: Callable[[list[str]], Mapping[str, str]] | None = None,
) -> Mapping[str, Any] | None:
    """The employee (one of ``empleados``, ``{id, nombre, rol, categorias,
    activo}``) to assign an incident of ``categoria`` to, or None when
    nobody is available. ``excluir`` holds ids that must not be chosen (the
    employee just deactivated, say). ``urgencia`` (for an incident with a
    service level): given the equally loaded, when the most urgent incident
    of each runs out (RFC 3339; absent: none), asked only on a tie."""
    disponibles = [
        e for e in empleados if e.get("activo", True) and e.get("id") not in excluir
    ]
    for rol in ROLES_ASIGNABLES:
        candidatos = [e for e in disponibles if e.get("rol") == rol]
        if candidatos:
            elegibles = _por_categoria(categoria, candidatos)
            menor = min(carga.get(e["id"], 0) for e in elegibles)
            empatados = sorted((e for e in elegibles if carga.get(e["id"], 0) == menor), key=lambda e: e["id"])
            if urgencia is None or len(empatados) == 1:
                return empatados[0]
            vence = urgencia([e["id"] for e in empatados])
            libres = [e for e in empatados if e["id"] not in vence]
            # max keeps the first of equals: the smallest id, as they are sorted
            return libres[0] if libres else max(empatados, key=lambda e: vence[e["id"]])
    return None
