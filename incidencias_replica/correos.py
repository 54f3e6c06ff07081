"""What the e-mails of both incident services write the same way: a
subject's title on one line, a priority as a person reads it, and which
stored addresses a mail may be sent to."""
from __future__ import annotations

from typing import Any

from incidencias_dominio import Prioridad

PRIORIDADES = {Prioridad.BAJA: "baja", Prioridad.MEDIA: "media", Prioridad.ALTA: "alta", Prioridad.CRITICA: "crítica"}


def una_linea(texto: str) -> str:
    """``texto`` on one line (a subject never carries a line break)."""
    return " ".join(texto.split())


def prioridad_legible(prioridad: Prioridad) -> str:
    return PRIORIDADES.get(prioridad, prioridad.value)


def direccion(valor: Any) -> str | None:
    """``valor`` if it can be a mail's recipient (a replica keeps what an
    event said; one that is not an address is no address), else None."""
    if not isinstance(valor, str) or "@" not in valor or any(c.isspace() for c in valor):
        return None
    return valor
