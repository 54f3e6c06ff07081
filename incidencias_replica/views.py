"""An incident as the APIs document it, built directly: the answers skip the
schema's dump (a fifth of a request's time), and a unit test holds each view
equal to its schema's dump for every state."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from common.clock import utc_now
from incidencias_dominio import PRIMERA_RESPUESTA, Incidencia, format_instant, seguimiento


def incident_view(incidencia: Incidencia, *, incluir_internas: bool, ahora: datetime | None = None,
                  **side: Any) -> dict[str, Any]:
    """Internal notes included for staff; a customer's view has no ``interna`` marks at all.

    Instead of the targets it holds (``plazos``), staff see how it stands
    against them at ``ahora`` (``sla``); the customer, when to expect a
    first answer (``primera_respuesta_prevista``, also once that time has
    passed unanswered: the promise stays in sight)."""
    view = incidencia.to_snapshot(incluir_internas=incluir_internas)
    del view["plazos"]
    view["cliente"] = {"id": view["cliente"]["id"], "nombre": view["cliente"]["nombre"]}
    sla = seguimiento(incidencia, ahora or utc_now())
    if incluir_internas:
        view["sla"] = None if sla is None else {objetivo: s.to_dict() for objetivo, s in sla.items()}
    else:
        view["comentarios"] = [{k: v for k, v in c.items() if k != "interna"} for c in view["comentarios"]]
        primera = None if sla is None else sla[PRIMERA_RESPUESTA]
        esperando = primera is not None and primera.cumplido_en is None and primera.vence_en is not None
        view["primera_respuesta_prevista"] = format_instant(primera.vence_en) if esperando else None
    view.update(side)
    return view
