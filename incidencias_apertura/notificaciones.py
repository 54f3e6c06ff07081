"""What only the customer-facing side decides: which events become a
notification for the customer, and what it says."""
from __future__ import annotations

from incidencias_dominio import (
    EVENTO_ACTUALIZADA,
    EVENTO_ASIGNADA,
    EVENTO_CANCELADA,
    EVENTO_CERRADA,
    EVENTO_COMENTADA,
    EVENTO_EN_CURSO,
    EVENTO_RESUELTA,
    Incidencia,
)

_MESSAGES = {
    EVENTO_ASIGNADA: "Su incidencia «{titulo}» ha sido asignada a {empleado}.",
    EVENTO_EN_CURSO: "{empleado} está trabajando en su incidencia «{titulo}».",
    EVENTO_RESUELTA: "Su incidencia «{titulo}» tiene una solución propuesta: confírmela o reábrala.",
    EVENTO_CANCELADA: "Su incidencia «{titulo}» ha sido cancelada.",
    EVENTO_CERRADA: "Su incidencia «{titulo}» se ha cerrado.",
    EVENTO_ACTUALIZADA: "Su incidencia «{titulo}» ha cambiado de prioridad o categoría.",
    EVENTO_COMENTADA: "Hay un nuevo comentario en su incidencia «{titulo}».",
}


def texto_notificacion(tipo: str, incidencia: Incidencia) -> str | None:
    """The customer's notification for an event, or None if it needs none."""
    template = _MESSAGES.get(tipo)
    if template is None:
        return None
    empleado = incidencia.asignada_a.nombre if incidencia.asignada_a and incidencia.asignada_a.nombre else "un agente"
    return template.format(titulo=incidencia.titulo, empleado=empleado)
