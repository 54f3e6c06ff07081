"""Incident states, which service owns each one, and the allowed transitions.

Both incident services hold a full replica of every incident. There is never
more than one writer because every state has exactly one owning service and
only the owner of the current state may change it; ownership passes with the
event that leaves the state. Final states have no owner: nobody changes them.
"""
from __future__ import annotations

from enum import Enum

APERTURA = "apertura"
RESOLUCION = "resolucion"
SERVICIOS = frozenset({APERTURA, RESOLUCION})


class Estado(str, Enum):
    ABIERTA = "abierta"
    ASIGNADA = "asignada"
    EN_CURSO = "en_curso"
    ESPERANDO_CLIENTE = "esperando_cliente"  # staff asked the customer something
    RESUELTA = "resuelta"
    REABIERTA = "reabierta"
    CERRADA = "cerrada"
    CANCELADA = "cancelada"
    FUSIONADA = "fusionada"  # merged into another incident of the same customer

    def __str__(self) -> str:
        return self.value


PROPIETARIOS: dict[Estado, str | None] = {
    Estado.ABIERTA: RESOLUCION,
    Estado.ASIGNADA: RESOLUCION,
    Estado.EN_CURSO: RESOLUCION,
    Estado.REABIERTA: RESOLUCION,
    Estado.ESPERANDO_CLIENTE: APERTURA,
    Estado.RESUELTA: APERTURA,
    Estado.CERRADA: None,
    Estado.CANCELADA: None,
    Estado.FUSIONADA: None,
}

ESTADOS_FINALES = frozenset({Estado.CERRADA, Estado.CANCELADA, Estado.FUSIONADA})

# States a customer may still withdraw through resolucion, which owns them;
# one waiting on the customer (``esperando_cliente``) apertura cancels itself.
ESTADOS_CANCELABLES = frozenset(
    {Estado.ABIERTA, Estado.ASIGNADA, Estado.EN_CURSO, Estado.REABIERTA}
)

# States from which staff may ask the customer something (and wait).
ESTADOS_CONSULTABLES = frozenset({Estado.ASIGNADA, Estado.EN_CURSO})

# States whose data (prioridad, categoria) may change: exactly the ones
# resolucion owns, so the change is written by the same single writer.
ESTADOS_EDITABLES = frozenset(e for e, owner in PROPIETARIOS.items() if owner == RESOLUCION)

# States a duplicate may be merged from, and the incident it is merged into
# may be in: resolucion's, so both writes of a merge are its own.
ESTADOS_FUSIONABLES = ESTADOS_EDITABLES

TRANSICIONES_PERMITIDAS: frozenset[tuple[Estado, Estado]] = frozenset(
    {
        (Estado.ABIERTA, Estado.ASIGNADA),
        (Estado.ASIGNADA, Estado.EN_CURSO),
        (Estado.ASIGNADA, Estado.ASIGNADA),  # reassign
        (Estado.EN_CURSO, Estado.ASIGNADA),  # reassign
        (Estado.ASIGNADA, Estado.RESUELTA),
        (Estado.EN_CURSO, Estado.RESUELTA),
        (Estado.RESUELTA, Estado.CERRADA),
        (Estado.RESUELTA, Estado.REABIERTA),
        (Estado.REABIERTA, Estado.ASIGNADA),
        # waiting on the customer: their reply takes it back to work; they
        # may also withdraw it, or close it (solved after all), and it
        # closes itself when they never answer
        (Estado.ESPERANDO_CLIENTE, Estado.EN_CURSO),
        (Estado.ESPERANDO_CLIENTE, Estado.CANCELADA),
        (Estado.ESPERANDO_CLIENTE, Estado.CERRADA),
    }
    | {(estado, Estado.ESPERANDO_CLIENTE) for estado in ESTADOS_CONSULTABLES}
    | {(estado, Estado.CANCELADA) for estado in ESTADOS_CANCELABLES}
    | {(estado, Estado.FUSIONADA) for estado in ESTADOS_FUSIONABLES}
)


class ConflictoDeEstado(Exception):
    """Base of the domain refusals; the HTTP layer answers them with 409."""

    def __init__(self, estado_actual: Estado, message: str):
        super().__init__(message)
        self.estado_actual = Estado(estado_actual)

    def as_dict(self) -> dict[str, object]:
        return {"estado_actual": self.estado_actual.value}


class NoEsPropietario(ConflictoDeEstado):
    """The calling service does not own the current state (``propietario``
    is ``None`` for final states, which nobody may change)."""

    def __init__(self, estado_actual: Estado, propietario: str | None):
        estado_actual = Estado(estado_actual)
        if propietario is None:
            message = f"incident is {estado_actual.value}, a final state"
        else:
            message = f"incident is {estado_actual.value}, owned by {propietario}"
        super().__init__(estado_actual, message)
        self.propietario = propietario

    def as_dict(self) -> dict[str, object]:
        return {"estado_actual": self.estado_actual.value, "propietario": self.propietario}


class TransicionNoPermitida(ConflictoDeEstado):
    def __init__(self, estado_actual: Estado, destino: Estado):
        estado_actual, destino = Estado(estado_actual), Estado(destino)
        super().__init__(
            estado_actual, f"cannot go from {estado_actual.value} to {destino.value}"
        )
        self.destino = destino

    def as_dict(self) -> dict[str, object]:
        return {"estado_actual": self.estado_actual.value, "destino": self.destino.value}


class IncidenciaFinalizada(ConflictoDeEstado):
    """Comments are refused once the incident reached a final state."""

    def __init__(self, estado_actual: Estado):
        estado_actual = Estado(estado_actual)
        super().__init__(estado_actual, f"incident is {estado_actual.value}, a final state")


def propietario_de(estado: Estado) -> str | None:
    return PROPIETARIOS[Estado(estado)]


def es_estado_final(estado: Estado) -> bool:
    return Estado(estado) in ESTADOS_FINALES


def comprobar_servicio(servicio: str) -> str:
    if servicio not in SERVICIOS:
        raise ValueError(f"unknown service {servicio!r}")
    return servicio


def comprobar_propietario(servicio: str, actual: Estado) -> None:
    """Raise NoEsPropietario unless ``servicio`` owns ``actual``."""
    comprobar_servicio(servicio)
    propietario = propietario_de(actual)
    if propietario is None or propietario != servicio:
        raise NoEsPropietario(actual, propietario)


def comprobar_transicion(servicio: str, actual: Estado, destino: Estado) -> None:
    """Ownership first, then the transition table."""
    comprobar_propietario(servicio, actual)
    if (Estado(actual), Estado(destino)) not in TRANSICIONES_PERMITIDAS:
        raise TransicionNoPermitida(actual, destino)


def comprobar_cambio_de_datos(servicio: str, actual: Estado) -> None:
    """A change of data without a change of state (recorded as ``de == a``)."""
    comprobar_propietario(servicio, actual)
    if Estado(actual) not in ESTADOS_EDITABLES:
        raise TransicionNoPermitida(actual, actual)


def transicion_permitida(servicio: str, actual: Estado, destino: Estado) -> bool:
    try:
        comprobar_transicion(servicio, actual, destino)
    except ConflictoDeEstado:
        return False
    return True
