"""The incident aggregate (``Incidencia``) and its value objects.

Callers pass in every id and every instant (``en``): the domain never reads
the clock nor generates ids, so it is deterministic and replicas agree.
Instants are timezone-aware and stored in UTC; snapshots render them as
fixed-width RFC 3339 strings (``2024-05-01T10:00:00.000000Z``), which also
sort chronologically as plain strings.

Decisions worth knowing:

- ``version`` counts state changes. Every transition and every data change
  (``cambiar_datos``) adds exactly 1, appends one ``historial`` entry and sets
  ``actualizada_en``. A refused call changes nothing.
- A data change is recorded in ``historial`` with ``de == a`` and a
  ``cambios`` map ``{campo: {"de": old, "a": new}}``; assignments record the
  assignee the same way under ``asignada_a``.
- ``historial[].por`` keeps only ``{id, rol}``: no personal data there.
- ``cerrada_en`` is when the incident reached a final state, ``cerrada`` or
  ``cancelada`` (``estado`` tells which). There is no ``cancelada_en``.
- ``reabrir`` keeps ``asignada_a`` (the incident goes back to the same
  employee) and keeps ``resolucion``/``resuelta_en`` as the last proposal,
  now rejected; resolving again replaces them.
- Comments are not versioned: both services write them, each keyed by its
  own id, and replicas merge them as a union. ``comentar`` neither bumps
  ``version`` nor touches ``actualizada_en`` (the time of the last versioned
  change), so the two services never both write a versioned field. Comments
  are refused (``IncidenciaFinalizada``) once the incident is cerrada/cancelada.
- Malformed arguments raise ``ValueError``; the HTTP schemas validate input
  first, so reaching one is a programming error rather than a user error.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from enum import Enum
from functools import cache
from typing import Any, Callable, Iterable, Mapping, Self

from cuentas.roles import CLIENTE

from .plazos import Plazos
from .state_machine import (
    APERTURA,
    ConflictoDeEstado,
    ESTADOS_FINALES,
    ESTADOS_FUSIONABLES,
    RESOLUCION,
    Estado,
    IncidenciaFinalizada,
    comprobar_cambio_de_datos,
    comprobar_transicion,
    propietario_de,
)

EVENTO_ABIERTA = "incidencia.abierta"
EVENTO_ASIGNADA = "incidencia.asignada"
EVENTO_EN_CURSO = "incidencia.en_curso"
EVENTO_RESUELTA = "incidencia.resuelta"
EVENTO_CERRADA = "incidencia.cerrada"
EVENTO_REABIERTA = "incidencia.reabierta"
EVENTO_CANCELADA = "incidencia.cancelada"
EVENTO_ACTUALIZADA = "incidencia.actualizada"
EVENTO_COMENTADA = "incidencia.comentada"
EVENTO_CANCELACION_SOLICITADA = "incidencia.cancelacion_solicitada"
EVENTO_FUSIONADA = "incidencia.fusionada"
EVENTO_ESPERANDO_CLIENTE = "incidencia.esperando_cliente"
EVENTO_VALORADA = "incidencia.valorada"

NOMBRE_ANONIMO = "Cliente eliminado"
MOTIVO_CIERRE_AUTOMATICO = "cierre automático"


class Canal(str, Enum):
    """How an incident came in: the portal or the API, a phone call staff
    took, an e-mail."""

    WEB = "web"
    TELEFONO = "telefono"
    EMAIL = "email"

    def __str__(self) -> str:
        return self.value


class Prioridad(str, Enum):
    BAJA = "baja"
    MEDIA = "media"
    ALTA = "alta"
    CRITICA = "critica"

    def __str__(self) -> str:
        return self.value

    @property
    def rank(self) -> int:
        """0 for baja … 3 for critica: sort by ``-rank`` for most urgent first."""
        return _RANKS[self]


_RANKS = {Prioridad.BAJA: 0, Prioridad.MEDIA: 1, Prioridad.ALTA: 2, Prioridad.CRITICA: 3}


# --- instants ---------------------------------------------------------------

def utc(at: datetime) -> datetime:
    if not isinstance(at, datetime) or at.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got {at!r}")
    return at.astimezone(timezone.utc)


def format_instant(at: datetime) -> str:
    # isoformat, not strftime: it pads every year to four digits
    return utc(at).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_instant(text: str) -> datetime:
    if not isinstance(text, str):
        raise ValueError(f"an RFC 3339 string is required, got {text!r}")
    return utc(datetime.fromisoformat(text))


def _format_opt(at: datetime | None) -> str | None:
    return None if at is None else format_instant(at)


def _parse_opt(text: str | None) -> datetime | None:
    return None if text is None else parse_instant(text)


# --- value objects ------------------------------------------------------------

def _text(value: Any, name: str, *, blank: bool = False) -> str:
    if not isinstance(value, str) or (not blank and not value.strip()):
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _opt_text(value: Any, name: str) -> str | None:
    return None if value is None else _text(value, name, blank=True)


def _flat(cls, value: Any):
    """Build a flat value object from itself or from a mapping (extra keys ignored)."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"{cls.__name__} expects a mapping, got {value!r}")
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in value.items() if k in names})
    except TypeError as exc:
        raise ValueError(f"invalid {cls.__name__}: {exc}") from None


@cache
def _field_names(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


class _ValorPlano:
    """A flat, frozen value object: built from itself or from a mapping
    (``of``), shown as the dict of its fields in order (``to_dict``)."""

    @classmethod
    def of(cls, value: Self | Mapping[str, Any]) -> Self:
        return _flat(cls, value)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _field_names(type(self))}


@dataclass(frozen=True)
class Cliente(_ValorPlano):
    id: str
    nombre: str
    anonimizado: bool = False

    def __post_init__(self) -> None:
        _text(self.id, "cliente.id")
        _text(self.nombre, "cliente.nombre", blank=True)
        object.__setattr__(self, "anonimizado", bool(self.anonimizado))


@dataclass(frozen=True)
class Producto(_ValorPlano):
    referencia: str
    nombre: str
    pedido: str | None = None

    def __post_init__(self) -> None:
        _text(self.referencia, "producto.referencia")
        _text(self.nombre, "producto.nombre", blank=True)
        _opt_text(self.pedido, "producto.pedido")


@dataclass(frozen=True)
class EmpleadoRef(_ValorPlano):
    """An employee as an incident mentions it: ``{id, nombre}``."""

    id: str
    nombre: str | None = None

    def __post_init__(self) -> None:
        _text(self.id, "empleado.id")
        _opt_text(self.nombre, "empleado.nombre")


@dataclass(frozen=True)
class Actor(_ValorPlano):
    """Whoever performs an action: ``{id, rol, nombre?}`` (rol as in tokens)."""

    id: str
    rol: str
    nombre: str | None = None

    def __post_init__(self) -> None:
        _text(self.id, "actor.id")
        _text(self.rol, "actor.rol")
        _opt_text(self.nombre, "actor.nombre")


SISTEMA = Actor(id="sistema", rol="sistema")
"""The actor of automatic actions (auto-close, auto-assignment)."""


@dataclass(frozen=True)
class EntradaHistorial:
    de: Estado | None
    a: Estado
    por: Actor  # id and rol only
    en: datetime
    motivo: str | None = None
    cambios: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "de": None if self.de is None else self.de.value,
            "a": self.a.value,
            "por": {"id": self.por.id, "rol": self.por.rol},
            "en": format_instant(self.en),
            "motivo": self.motivo,
            "cambios": copy.deepcopy(self.cambios),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EntradaHistorial:
        por = d["por"]
        return cls(
            de=None if d.get("de") is None else Estado(d["de"]),
            a=Estado(d["a"]),
            por=Actor(id=por["id"], rol=por["rol"]),
            en=parse_instant(d["en"]),
            motivo=_opt_text(d.get("motivo"), "motivo"),
            cambios=copy.deepcopy(d.get("cambios")),
        )


@dataclass(frozen=True)
class Comentario:
    id: str
    autor: Actor
    texto: str
    interna: bool
    creado_en: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "autor": self.autor.to_dict(),
            "texto": self.texto,
            "interna": self.interna,
            "creado_en": format_instant(self.creado_en),
        }

    @classmethod
    def of(cls, value: Comentario | Mapping[str, Any]) -> Comentario:
        """From itself or from its snapshot form."""
        if isinstance(value, cls):
            return value
        try:
            return cls(
                id=_text(value["id"], "comentario.id"),
                autor=Actor.of(value["autor"]),
                texto=_text(value["texto"], "comentario.texto"),
                interna=bool(value.get("interna", False)),
                creado_en=parse_instant(value["creado_en"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"invalid comentario: {exc!r}") from None

    @property
    def sort_key(self) -> tuple[datetime, str]:
        return (self.creado_en, self.id)


@dataclass(frozen=True)
class Resolucion:
    texto: str
    por: EmpleadoRef
    en: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"texto": self.texto, "por": self.por.to_dict(), "en": format_instant(self.en)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Resolucion:
        return cls(texto=d["texto"], por=EmpleadoRef.of(d["por"]), en=parse_instant(d["en"]))


PUNTUACIONES = range(1, 6)
"""A customer's verdict on a closed incident: 1 (very unhappy) to 5 (very happy)."""


@dataclass(frozen=True)
class Valoracion:
    """The customer's rating of how their closed incident was handled."""

    puntuacion: int
    comentario: str | None
    en: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.puntuacion, int) or isinstance(self.puntuacion, bool) \
                or self.puntuacion not in PUNTUACIONES:
            raise ValueError(f"puntuacion must be 1 to 5, got {self.puntuacion!r}")
        _opt_text(self.comentario, "comentario")

    def to_dict(self) -> dict[str, Any]:
        return {"puntuacion": self.puntuacion, "comentario": self.comentario, "en": format_instant(self.en)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Valoracion:
        try:
            return cls(d["puntuacion"], d.get("comentario"), parse_instant(d["en"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"invalid valoracion: {exc!r}") from None


class ValoracionNoPermitida(ConflictoDeEstado):
    """Only a closed incident is rated, by its customer, once (the HTTP layer answers 409)."""

    def __init__(self, estado_actual: Estado, message: str):
        super().__init__(estado_actual, message)


def ordenar_comentarios(comentarios: Iterable[Comentario]) -> list[Comentario]:
    """Union by id (the first occurrence wins), ordered by creado_en then id."""
    by_id: dict[str, Comentario] = {}
    for c in comentarios:
        by_id.setdefault(c.id, c)
    return sorted(by_id.values(), key=lambda c: c.sort_key)


def _categoria(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"categoria must be a string, got {value!r}")
    return value.strip() or None


def _ref_dict(ref: EmpleadoRef | None) -> dict[str, Any] | None:
    return None if ref is None else ref.to_dict()


# --- the aggregate ---------------------------------------------------------------

MAX_ETIQUETAS = 20
"""The most tags one incident holds."""
REGLA_ETIQUETA = ("Una etiqueta tiene de 1 a 30 letras, números, - o _, y empieza y acaba por letra o "
                  "número.")
"""The tag rule as a person reads it (what ``etiqueta`` refuses)."""
_ETIQUETA = re.compile(r"[^\W_](?:[\w-]{0,28}[^\W_])?")


def etiqueta(texto: str) -> str:
    """A tag as it is kept: trimmed, in lower case, inner white space as
    ``-`` ("Rotura en transporte" → "rotura-en-transporte"); 1 to 30
    letters, digits, ``-`` and ``_``, a letter or digit at both ends.
    ValueError for anything else."""
    if not isinstance(texto, str):
        raise ValueError("a tag is a text")
    kept = "-".join(texto.split()).casefold()
    if not _ETIQUETA.fullmatch(kept):
        raise ValueError("a tag is 1 to 30 letters, digits, - or _, starting and ending with a letter or digit")
    return kept


class FusionNoPermitida(ValueError):
    """A merge that can never be made as asked (the HTTP layer answers 422
    naming the incident merged into): the same incident, another customer's,
    or one in a state no merge reaches."""


def _comprobar_fusion(servicio: str, origen: Incidencia, destino: Incidencia) -> None:
    """Whether ``origen`` may be merged into ``destino`` by ``servicio``
    (resolucion, which owns both states a merge joins)."""
    if servicio != RESOLUCION:
        raise FusionNoPermitida("Solo el equipo que resuelve fusiona incidencias")
    if origen.id == destino.id:
        raise FusionNoPermitida("Una incidencia no se fusiona consigo misma")
    if origen.cliente.id != destino.cliente.id:
        raise FusionNoPermitida("Solo se fusionan incidencias del mismo cliente")
    if destino.estado not in ESTADOS_FUSIONABLES:
        raise FusionNoPermitida(f"La incidencia de destino está «{destino.estado.value}»: solo se fusiona en una "
                                "abierta, asignada, en curso o reabierta")


@dataclass
class Incidencia:
    id: str
    cliente: Cliente
    producto: Producto
    titulo: str
    descripcion: str
    categoria: str | None
    prioridad: Prioridad
    estado: Estado
    version: int
    creada_en: datetime
    actualizada_en: datetime
    asignada_a: EmpleadoRef | None = None
    historial: list[EntradaHistorial] = field(default_factory=list)
    comentarios: list[Comentario] = field(default_factory=list)
    resolucion: Resolucion | None = None
    resuelta_en: datetime | None = None
    cerrada_en: datetime | None = None
    motivo_reapertura: str | None = None
    canal: Canal = Canal.WEB
    etiquetas: list[str] = field(default_factory=list)
    """Staff's own labels (``etiqueta``): like internal notes, in a snapshot
    only with ``incluir_internas``; never a change of state, no version."""
    fusionada_en: str | None = None
    """The incident this one was merged into (state ``fusionada``)."""
    fusionadas: list[str] = field(default_factory=list)
    """The incidents merged into this one, oldest merge first."""
    valoracion: Valoracion | None = None
    """The customer's rating once it is closed (``valorar``): like a
    comment, no change of state and no version; once set it stays."""
    plazos: Plazos | None = None
    """The service-level targets it is held to (``plazos.seguimiento``):
    the policy's for its priority and category, copied in when it opened
    and whenever they changed; None, no service level."""

    @property
    def propietario(self) -> str | None:
        """The service that may change the incident now (None once final)."""
        return propietario_de(self.estado)

    @property
    def es_final(self) -> bool:
        return self.estado in ESTADOS_FINALES

    @classmethod
    def abrir(
        cls,
        id: str,
        cliente: Cliente | Mapping[str, Any],
        producto: Producto | Mapping[str, Any],
        titulo: str,
        descripcion: str,
        categoria: str | None,
        prioridad: Prioridad | str,
        en: datetime,
        *,
        canal: Canal | str = Canal.WEB,
        por: Actor | None = None,
        plazos: Plazos | None = None,
    ) -> Incidencia:
        """A new incident in ``abierta``, version 1; publish ``EVENTO_ABIERTA``.
        ``por``: who opened it when not the customer themselves (an employee
        taking their call), as the history's first entry records;
        ``plazos``: the service level of its priority and category."""
        cliente = Cliente.of(cliente)
        en = utc(en)
        por = por or Actor(cliente.id, CLIENTE)
        return cls(
            id=_text(id, "id"),
            cliente=cliente,
            producto=Producto.of(producto),
            titulo=_text(titulo, "titulo"),
            descripcion=_text(descripcion, "descripcion"),
            categoria=_categoria(categoria),
            prioridad=Prioridad(prioridad),
            estado=Estado.ABIERTA,
            canal=Canal(canal),
            version=1,
            creada_en=en,
            actualizada_en=en,
            historial=[EntradaHistorial(None, Estado.ABIERTA, Actor(por.id, por.rol), en)],
            plazos=None if plazos is None else Plazos.of(plazos),
        )

    # -- transitions: each validates everything before changing anything --

    def _record(
        self,
        destino: Estado,
        por: Actor,
        en: datetime,
        motivo: str | None = None,
        cambios: dict[str, Any] | None = None,
    ) -> None:
        self.historial.append(
            EntradaHistorial(self.estado, destino, Actor(por.id, por.rol), en, motivo, cambios)
        )
        self.estado = destino
        self.version += 1
        self.actualizada_en = en

    def asignar(
        self,
        servicio: str,
        empleado: EmpleadoRef | Mapping[str, Any],
        por: Actor | Mapping[str, Any],
        en: datetime,
    ) -> str:
        """Assign or reassign (abierta|reabierta|asignada|en_curso → asignada)."""
        comprobar_transicion(servicio, self.estado, Estado.ASIGNADA)
        empleado, por, en = EmpleadoRef.of(empleado), Actor.of(por), utc(en)
        cambios = {"asignada_a": {"de": _ref_dict(self.asignada_a), "a": empleado.to_dict()}}
        self.asignada_a = empleado
        self._record(Estado.ASIGNADA, por, en, cambios=cambios)
        return EVENTO_ASIGNADA

    def iniciar(self, servicio: str, por: Actor | Mapping[str, Any], en: datetime) -> str:
        """Work starts (asignada → en_curso, resolucion), or goes on once the
        customer answered a question (esperando_cliente → en_curso, apertura)."""
        comprobar_transicion(servicio, self.estado, Estado.EN_CURSO)
        self._record(Estado.EN_CURSO, Actor.of(por), utc(en))
        return EVENTO_EN_CURSO

    def consultar(self, servicio: str, comentario_id: str, pregunta: str, por: Actor | Mapping[str, Any],
                  en: datetime) -> str:
        """Staff ask the customer something (asignada|en_curso → esperando_cliente):
        the question is a public comment (``comentario_id``), the history
        names it, and the incident waits on the customer (apertura's)."""
        comprobar_transicion(servicio, self.estado, Estado.ESPERANDO_CLIENTE)
        pregunta, por, en = _text(pregunta, "pregunta"), Actor.of(por), utc(en)
        if any(c.id == comentario_id for c in self.comentarios):
            raise ValueError(f"comment {comentario_id} exists already")
        comentario = Comentario(_text(comentario_id, "comentario_id"), por, pregunta, False, en)
        self.comentarios = ordenar_comentarios([*self.comentarios, comentario])
        self._record(Estado.ESPERANDO_CLIENTE, por, en, cambios={"consulta": {"de": None, "a": comentario_id}})
        return EVENTO_ESPERANDO_CLIENTE

    def resolver(self, servicio: str, texto: str, por: Actor | Mapping[str, Any], en: datetime) -> str:
        comprobar_transicion(servicio, self.estado, Estado.RESUELTA)
        texto, por, en = _text(texto, "texto"), Actor.of(por), utc(en)
        self.resolucion = Resolucion(texto, EmpleadoRef(por.id, por.nombre), en)
        self.resuelta_en = en
        self._record(Estado.RESUELTA, por, en)
        return EVENTO_RESUELTA

    def cerrar(self, servicio: str, por: Actor | Mapping[str, Any], en: datetime, automatico: bool = False) -> str:
        """The customer accepts the solution (or, asked something, says it is
        solved after all), or it auto-closes (``por=SISTEMA``)."""
        comprobar_transicion(servicio, self.estado, Estado.CERRADA)
        por, en = Actor.of(por), utc(en)
        self.cerrada_en = en
        self._record(
            Estado.CERRADA, por, en, motivo=MOTIVO_CIERRE_AUTOMATICO if automatico else None
        )
        return EVENTO_CERRADA

    def reabrir(self, servicio: str, motivo: str, por: Actor | Mapping[str, Any], en: datetime) -> str:
        comprobar_transicion(servicio, self.estado, Estado.REABIERTA)
        motivo, por, en = _text(motivo, "motivo"), Actor.of(por), utc(en)
        self.motivo_reapertura = motivo
        self._record(Estado.REABIERTA, por, en, motivo=motivo)
        return EVENTO_REABIERTA

    def cancelar(self, servicio: str, por: Actor | Mapping[str, Any], en: datetime, motivo: str | None = None) -> str:
        comprobar_transicion(servicio, self.estado, Estado.CANCELADA)
        motivo, por, en = _opt_text(motivo, "motivo"), Actor.of(por), utc(en)
        self.cerrada_en = en
        self._record(Estado.CANCELADA, por, en, motivo=motivo)
        return EVENTO_CANCELADA

    def cambiar_datos(
        self,
        servicio: str,
        prioridad: Prioridad | str | None = None,
        categoria: str | None = None,
        *,
        por: Actor | Mapping[str, Any],
        en: datetime,
        plazos_para: Callable[[Prioridad, str | None], Plazos | None] | None = None,
    ) -> str | None:
        """Change prioridad and/or categoria (None: unchanged; ``""`` clears
        categoria). Returns None, changing nothing, when the values are the
        current ones. ``plazos_para``: the service level of the new priority
        and category (the policy's), taken in with them; without it the
        incident keeps its own."""
        comprobar_cambio_de_datos(servicio, self.estado)
        nueva_prioridad = self.prioridad if prioridad is None else Prioridad(prioridad)
        nueva_categoria = self.categoria if categoria is None else _categoria(categoria)
        por, en = Actor.of(por), utc(en)
        cambios: dict[str, Any] = {}
        if nueva_prioridad != self.prioridad:
            cambios["prioridad"] = {"de": self.prioridad.value, "a": nueva_prioridad.value}
        if nueva_categoria != self.categoria:
            cambios["categoria"] = {"de": self.categoria, "a": nueva_categoria}
        if not cambios:
            return None
        self.prioridad, self.categoria = nueva_prioridad, nueva_categoria
        if plazos_para is not None:
            self.plazos = plazos_para(nueva_prioridad, nueva_categoria)
        self._record(self.estado, por, en, cambios=cambios)
        return EVENTO_ACTUALIZADA

    # -- merging a duplicate (``fusionada``): two halves, each its own write --

    def recibir_fusion(self, servicio: str, origen: Incidencia, por: Actor | Mapping[str, Any],
                       en: datetime) -> str | None:
        """Take in ``origen``, a duplicate of this incident: its public
        comments are copied here (each under an id of its own, with its
        author and time) and the history records the merge, a change of
        data in this incident's state. None, changing nothing, when
        ``origen`` was taken in already (a retried merge)."""
        if origen.id in self.fusionadas:
            return None
        comprobar_transicion(servicio, origen.estado, Estado.FUSIONADA)  # the duplicate's own 409 first
        _comprobar_fusion(servicio, origen, self)
        por, en = Actor.of(por), utc(en)
        copias = [Comentario(f"{origen.id}.{c.id}", c.autor, c.texto, False, c.creado_en)
                  for c in origen.comentarios if not c.interna]
        known = {c.id for c in self.comentarios}
        self.comentarios = ordenar_comentarios([*self.comentarios, *(c for c in copias if c.id not in known)])
        self.fusionadas = [*self.fusionadas, origen.id]
        self._record(self.estado, por, en,
                     cambios={"fusion": {"de": origen.id, "a": self.id, "titulo": origen.titulo}})
        return EVENTO_ACTUALIZADA

    def fusionar_en(self, servicio: str, destino: Incidencia, por: Actor | Mapping[str, Any],
                    en: datetime) -> str | None:
        """This incident is a duplicate of ``destino``: it ends in
        ``fusionada``, pointing to it (take ``destino``'s half first,
        ``recibir_fusion``). None, changing nothing, when it was merged into
        ``destino`` already (a retried merge)."""
        if self.estado is Estado.FUSIONADA and self.fusionada_en == destino.id:
            return None
        comprobar_transicion(servicio, self.estado, Estado.FUSIONADA)
        _comprobar_fusion(servicio, self, destino)
        por, en = Actor.of(por), utc(en)
        self.fusionada_en = destino.id
        self.cerrada_en = en
        self._record(Estado.FUSIONADA, por, en,
                     cambios={"fusionada_en": {"de": None, "a": destino.id, "titulo": destino.titulo}})
        return EVENTO_FUSIONADA

    # -- unversioned local changes --

    def valorar(self, servicio: str, puntuacion: int, comentario: str | None, por: Actor | Mapping[str, Any],
                en: datetime) -> str:
        """The customer rates the closed incident, once (apertura, where they
        are): ``EVENTO_VALORADA``. Unversioned, like a comment: a final state
        does not change, the rating sits beside it."""
        por = Actor.of(por)
        if servicio != APERTURA or not self._es_del_cliente(por):
            raise ValoracionNoPermitida(self.estado, "only the customer rates their incident")
        if self.estado is not Estado.CERRADA:
            raise ValoracionNoPermitida(self.estado, f"incident is {self.estado.value}: only a closed one is rated")
        if self.valoracion is not None:
            raise ValoracionNoPermitida(self.estado, "incident was rated already")
        comentario = (comentario or "").strip() or None
        self.valoracion = Valoracion(puntuacion, comentario, utc(en))
        return EVENTO_VALORADA

    def comentar(
        self,
        comentario_id: str,
        autor: Actor | Mapping[str, Any],
        texto: str,
        interna: bool,
        en: datetime,
    ) -> str | None:
        """Append a comment; returns ``EVENTO_COMENTADA``, or None when a
        comment with that id is already there (a retried request)."""
        if any(c.id == comentario_id for c in self.comentarios):
            return None
        if self.es_final:
            raise IncidenciaFinalizada(self.estado)
        autor = Actor.of(autor)
        if self.cliente.anonimizado and self._es_del_cliente(autor):
            autor = Actor(autor.id, autor.rol, NOMBRE_ANONIMO)
        comentario = Comentario(
            _text(comentario_id, "comentario_id"), autor, _text(texto, "texto"), bool(interna), utc(en)
        )
        self.comentarios = ordenar_comentarios([*self.comentarios, comentario])
        return EVENTO_COMENTADA

    def _es_del_cliente(self, autor: Actor) -> bool:
        return autor.rol == CLIENTE and autor.id == self.cliente.id

    def anonimizar_cliente(self) -> bool:
        """Erase the customer's personal data here (name, also on their
        comments). Idempotent, unversioned: every replica does it on
        ``cliente.eliminado``. Returns whether anything changed."""
        antes = (self.cliente, self.comentarios)
        self.cliente = Cliente(self.cliente.id, NOMBRE_ANONIMO, anonimizado=True)
        self.comentarios = [
            Comentario(c.id, Actor(c.autor.id, c.autor.rol, NOMBRE_ANONIMO), c.texto, c.interna, c.creado_en)
            if self._es_del_cliente(c.autor)
            else c
            for c in self.comentarios
        ]
        return (self.cliente, self.comentarios) != antes

    # -- snapshots --

    def etiquetar(self, texto: str) -> bool:
        """Add the tag ``texto`` (as ``etiqueta`` writes it); False when it
        was there. ValueError past ``MAX_ETIQUETAS``."""
        nueva = etiqueta(texto)
        if nueva in self.etiquetas:
            return False
        if len(self.etiquetas) >= MAX_ETIQUETAS:
            raise ValueError(f"an incident holds at most {MAX_ETIQUETAS} tags")
        self.etiquetas = sorted([*self.etiquetas, nueva])
        return True

    def quitar_etiqueta(self, texto: str) -> bool:
        """Remove the tag ``texto``; False when it was not there."""
        quitada = etiqueta(texto)
        if quitada not in self.etiquetas:
            return False
        self.etiquetas = [e for e in self.etiquetas if e != quitada]
        return True

    def to_snapshot(self, incluir_internas: bool) -> dict[str, Any]:
        """The JSON-safe full state. Internal notes only if ``incluir_internas``:
        pass False for anything the customer-facing side may see."""
        return {
            "id": self.id,
            "cliente": self.cliente.to_dict(),
            "producto": self.producto.to_dict(),
            "titulo": self.titulo,
            "descripcion": self.descripcion,
            "categoria": self.categoria,
            "prioridad": self.prioridad.value,
            "estado": self.estado.value,
            "asignada_a": _ref_dict(self.asignada_a),
            "version": self.version,
            "historial": [e.to_dict() for e in self.historial],
            "comentarios": [
                c.to_dict() for c in self.comentarios if incluir_internas or not c.interna
            ],
            "resolucion": None if self.resolucion is None else self.resolucion.to_dict(),
            "creada_en": format_instant(self.creada_en),
            "actualizada_en": format_instant(self.actualizada_en),
            "resuelta_en": _format_opt(self.resuelta_en),
            "cerrada_en": _format_opt(self.cerrada_en),
            "motivo_reapertura": self.motivo_reapertura,
            "canal": self.canal.value,
            "fusionada_en": self.fusionada_en,
            "fusionadas": list(self.fusionadas),
            "valoracion": None if self.valoracion is None else self.valoracion.to_dict(),
            "plazos": None if self.plazos is None else self.plazos.to_dict(),
            **({"etiquetas": list(self.etiquetas)} if incluir_internas else {}),
        }

    @classmethod
    def from_snapshot(cls, d: Mapping[str, Any]) -> Incidencia:
        """Inverse of ``to_snapshot``; unknown keys are ignored, missing
        optional ones take their empty value. Raises ValueError if malformed."""
        try:
            version = d["version"]
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise ValueError(f"version must be a positive integer, got {version!r}")
            creada_en = parse_instant(d["creada_en"])
            resolucion = d.get("resolucion")
            asignada_a = d.get("asignada_a")
            return cls(
                id=_text(d["id"], "id"),
                cliente=Cliente.of(d["cliente"]),
                producto=Producto.of(d["producto"]),
                titulo=_text(d["titulo"], "titulo"),
                descripcion=_text(d["descripcion"], "descripcion"),
                categoria=_categoria(d.get("categoria")),
                prioridad=Prioridad(d["prioridad"]),
                estado=Estado(d["estado"]),
                version=version,
                creada_en=creada_en,
                actualizada_en=_parse_opt(d.get("actualizada_en")) or creada_en,
                asignada_a=None if asignada_a is None else EmpleadoRef.of(asignada_a),
                historial=[EntradaHistorial.from_dict(e) for e in d.get("historial") or ()],
                comentarios=ordenar_comentarios(
                    Comentario.of(c) for c in d.get("comentarios") or ()
                ),
                resolucion=None if resolucion is None else Resolucion.from_dict(resolucion),
                resuelta_en=_parse_opt(d.get("resuelta_en")),
                cerrada_en=_parse_opt(d.get("cerrada_en")),
                motivo_reapertura=_opt_text(d.get("motivo_reapertura"), "motivo_reapertura"),
                # Incidents opened before the channel was recorded came in by the web.
                canal=Canal(d.get("canal") or Canal.WEB),
                etiquetas=sorted({etiqueta(e) for e in d.get("etiquetas") or ()}),
                fusionada_en=_opt_text(d.get("fusionada_en"), "fusionada_en"),
                fusionadas=[_text(i, "fusionadas") for i in d.get("fusionadas") or ()],
                valoracion=None if d.get("valoracion") is None else Valoracion.from_dict(d["valoracion"]),
                plazos=None if d.get("plazos") is None else Plazos.of(d["plazos"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"invalid incident snapshot: {exc!r}") from None
