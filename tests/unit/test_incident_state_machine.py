"""The incident state machine, its owners and the Incidencia aggregate."""
from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import datetime, timedelta, timezone

import pytest

from incidencias_dominio import (
    APERTURA,
    MAX_ETIQUETAS,
    Actor,
    EVENTO_ACTUALIZADA,
    EVENTO_ASIGNADA,
    EVENTO_CANCELADA,
    EVENTO_CERRADA,
    EVENTO_COMENTADA,
    EVENTO_EN_CURSO,
    EVENTO_ESPERANDO_CLIENTE,
    EVENTO_VALORADA,
    aplicar_snapshot,
    ValoracionNoPermitida,
    EVENTO_FUSIONADA,
    EVENTO_REABIERTA,
    EVENTO_RESUELTA,
    MOTIVO_CIERRE_AUTOMATICO,
    NOMBRE_ANONIMO,
    PROPIETARIOS,
    RESOLUCION,
    SISTEMA,
    TRANSICIONES_PERMITIDAS,
    Canal,
    ConflictoDeEstado,
    EmpleadoRef,
    Estado,
    FusionNoPermitida,
    Incidencia,
    IncidenciaFinalizada,
    NoEsPropietario,
    Prioridad,
    TransicionNoPermitida,
    comprobar_transicion,
    etiqueta,
    format_instant,
    parse_instant,
    transicion_permitida,
)

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
CLIENTE = {"id": "c-1", "nombre": "Ana Pérez"}
CLIENTE_ACTOR = {"id": "c-1", "rol": "cliente", "nombre": "Ana Pérez"}
PRODUCTO = {"referencia": "SKU-42", "nombre": "Tostadora", "pedido": "P-7"}
EMPLEADO = {"id": "e-1", "nombre": "Eva"}
OTRO_EMPLEADO = {"id": "e-2", "nombre": "Luis"}
AGENTE = {"id": "e-1", "rol": "agente", "nombre": "Eva"}
SUPERVISOR = {"id": "e-9", "rol": "supervisor", "nombre": "Sara"}

EXPECTED_OWNERS = {
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
# Spelled out from the design, independently of the module under test.
EXPECTED_TRANSITIONS = {
    ("abierta", "asignada"),
    ("asignada", "en_curso"),
    ("asignada", "asignada"),
    ("en_curso", "asignada"),
    ("asignada", "resuelta"),
    ("en_curso", "resuelta"),
    ("resuelta", "cerrada"),
    ("resuelta", "reabierta"),
    ("reabierta", "asignada"),
    ("abierta", "cancelada"),
    ("asignada", "cancelada"),
    ("en_curso", "cancelada"),
    ("reabierta", "cancelada"),
    ("abierta", "fusionada"),
    ("asignada", "fusionada"),
    ("en_curso", "fusionada"),
    ("reabierta", "fusionada"),
    ("asignada", "esperando_cliente"),
    ("en_curso", "esperando_cliente"),
    ("esperando_cliente", "en_curso"),
    ("esperando_cliente", "cancelada"),
    ("esperando_cliente", "cerrada"),
}
ROUTING_KEYS = {
    Estado.ASIGNADA: EVENTO_ASIGNADA,
    Estado.EN_CURSO: EVENTO_EN_CURSO,
    Estado.ESPERANDO_CLIENTE: EVENTO_ESPERANDO_CLIENTE,
    Estado.RESUELTA: EVENTO_RESUELTA,
    Estado.CERRADA: EVENTO_CERRADA,
    Estado.REABIERTA: EVENTO_REABIERTA,
    Estado.CANCELADA: EVENTO_CANCELADA,
    Estado.FUSIONADA: EVENTO_FUSIONADA,
}
# A legal path from abierta to every state.
PATHS = {
    Estado.ABIERTA: [],
    Estado.ASIGNADA: [Estado.ASIGNADA],
    Estado.EN_CURSO: [Estado.ASIGNADA, Estado.EN_CURSO],
    Estado.ESPERANDO_CLIENTE: [Estado.ASIGNADA, Estado.ESPERANDO_CLIENTE],
    Estado.RESUELTA: [Estado.ASIGNADA, Estado.EN_CURSO, Estado.RESUELTA],
    Estado.REABIERTA: [Estado.ASIGNADA, Estado.RESUELTA, Estado.REABIERTA],
    Estado.CERRADA: [Estado.ASIGNADA, Estado.RESUELTA, Estado.CERRADA],
    Estado.CANCELADA: [Estado.CANCELADA],
    Estado.FUSIONADA: [Estado.FUSIONADA],
}
# No action leads back to abierta: only abrir creates it.
DESTINOS = list(ROUTING_KEYS)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def nueva(**overrides) -> Incidencia:
    args = dict(
        id="i-1",
        cliente=CLIENTE,
        producto=PRODUCTO,
        titulo="No calienta",
        descripcion="La tostadora no calienta desde ayer.",
        categoria="electrodomesticos",
        prioridad="media",
        en=T0,
    )
    args.update(overrides)
    return Incidencia.abrir(**args)


def hacer(inc: Incidencia, destino: Estado, servicio: str, when: datetime) -> str:
    """Call the action that leads to ``destino``."""
    if destino is Estado.ASIGNADA:
        return inc.asignar(servicio, OTRO_EMPLEADO, SUPERVISOR, when)
    if destino is Estado.EN_CURSO:
        return inc.iniciar(servicio, AGENTE, when)
    if destino is Estado.ESPERANDO_CLIENTE:
        return inc.consultar(servicio, f"q-{when.isoformat()}", "¿Qué modelo es?", AGENTE, when)
    if destino is Estado.RESUELTA:
        return inc.resolver(servicio, "Cambiada la resistencia", AGENTE, when)
    if destino is Estado.CERRADA:
        return inc.cerrar(servicio, CLIENTE_ACTOR, when)
    if destino is Estado.REABIERTA:
        return inc.reabrir(servicio, "Sigue sin calentar", CLIENTE_ACTOR, when)
    if destino is Estado.CANCELADA:
        return inc.cancelar(servicio, CLIENTE_ACTOR, when, motivo="Ya no la necesito")
    if destino is Estado.FUSIONADA:
        # Into an incident of its own each time (a merge into the same one again is a retry: no-op).
        return inc.fusionar_en(servicio, nueva(id=f"i-destino-{when.isoformat()}"), SUPERVISOR, when)
    raise AssertionError(destino)


def en_estado(estado: Estado) -> Incidencia:
    inc = nueva()
    for n, paso in enumerate(PATHS[estado], start=1):
        if paso is Estado.ASIGNADA:
            inc.asignar(RESOLUCION, EMPLEADO, SISTEMA, at(n))
        else:
            hacer(inc, paso, PROPIETARIOS[inc.estado], at(n))
    assert inc.estado is estado
    return inc


# --- the tables -----------------------------------------------------------------

def test_estado_values():
    assert [e.value for e in Estado] == [
        "abierta", "asignada", "en_curso", "esperando_cliente", "resuelta", "reabierta", "cerrada", "cancelada",
        "fusionada",
    ]


def test_owners_are_the_design_ones():
    assert PROPIETARIOS == EXPECTED_OWNERS
    assert (APERTURA, RESOLUCION) == ("apertura", "resolucion")


def test_transition_table_is_exactly_the_design_one():
    assert {(a.value, b.value) for a, b in TRANSICIONES_PERMITIDAS} == EXPECTED_TRANSITIONS


@pytest.mark.parametrize("servicio", [APERTURA, RESOLUCION])
@pytest.mark.parametrize("de,a", list(itertools.product(Estado, Estado)))
def test_check_transition_checks_owner_first_then_table(servicio, de, a):
    owner = EXPECTED_OWNERS[de]
    if owner != servicio:
        with pytest.raises(NoEsPropietario) as err:
            comprobar_transicion(servicio, de, a)
        assert err.value.estado_actual is de
        assert err.value.propietario == owner
        assert not transicion_permitida(servicio, de, a)
    elif (de.value, a.value) not in EXPECTED_TRANSITIONS:
        with pytest.raises(TransicionNoPermitida) as err:
            comprobar_transicion(servicio, de, a)
        assert (err.value.estado_actual, err.value.destino) == (de, a)
        assert not transicion_permitida(servicio, de, a)
    else:
        comprobar_transicion(servicio, de, a)
        assert transicion_permitida(servicio, de, a)


def test_unknown_service_is_a_programming_error():
    with pytest.raises(ValueError):
        comprobar_transicion("clientes", Estado.ABIERTA, Estado.ASIGNADA)


def test_errors_carry_the_current_state_for_the_409_body():
    err = NoEsPropietario(Estado.RESUELTA, APERTURA)
    assert isinstance(err, ConflictoDeEstado)
    assert err.as_dict() == {"estado_actual": "resuelta", "propietario": "apertura"}
    err = TransicionNoPermitida("asignada", "cerrada")
    assert err.estado_actual is Estado.ASIGNADA
    assert err.as_dict() == {"estado_actual": "asignada", "destino": "cerrada"}
    assert IncidenciaFinalizada(Estado.CERRADA).as_dict() == {"estado_actual": "cerrada"}


def test_prioridad_rank_orders_critica_highest():
    ordered = sorted(Prioridad, key=lambda p: p.rank)
    assert [p.value for p in ordered] == ["baja", "media", "alta", "critica"]
    assert str(Prioridad.CRITICA) == "critica" and str(Estado.EN_CURSO) == "en_curso"


# --- abrir ----------------------------------------------------------------------------

def test_abrir_creates_version_1_with_one_history_entry():
    inc = nueva()
    assert inc.estado is Estado.ABIERTA and inc.version == 1
    assert inc.prioridad is Prioridad.MEDIA
    assert inc.propietario == RESOLUCION
    assert inc.asignada_a is None and inc.resolucion is None
    assert inc.creada_en == inc.actualizada_en == T0
    assert inc.resuelta_en is None and inc.cerrada_en is None
    assert inc.cliente.anonimizado is False
    assert inc.producto.pedido == "P-7"
    [entrada] = inc.historial
    assert entrada.de is None and entrada.a is Estado.ABIERTA and entrada.en == T0
    assert (entrada.por.id, entrada.por.rol) == ("c-1", "cliente")


@pytest.mark.parametrize(
    "override",
    [
        {"titulo": "  "},
        {"id": ""},
        {"prioridad": "urgente"},
        {"cliente": {"nombre": "sin id"}},
        {"producto": "SKU-42"},
        {"en": datetime(2024, 5, 1, 10, 0)},  # naive
    ],
)
def test_abrir_rejects_malformed_input(override):
    with pytest.raises(ValueError):
        nueva(**override)


def test_instants_are_stored_in_utc():
    madrid = timezone(timedelta(hours=2))
    inc = nueva(en=datetime(2024, 5, 1, 12, 0, tzinfo=madrid))
    assert inc.creada_en == T0 and inc.creada_en.tzinfo is timezone.utc
    assert format_instant(inc.creada_en) == "2024-05-01T10:00:00.000000Z"
    assert parse_instant("2024-05-01T12:00:00+02:00") == T0
    with pytest.raises(ValueError):
        parse_instant("2024-05-01T10:00:00")  # no offset


# --- every allowed transition ------------------------------------------------------------

ALLOWED_BY_ACTION = sorted(
    (de, a) for de, a in itertools.product(Estado, DESTINOS)
    if (de.value, a.value) in EXPECTED_TRANSITIONS
)


@pytest.mark.parametrize("de,a", ALLOWED_BY_ACTION)
def test_allowed_transition_bumps_version_and_records_history(de, a):
    inc = en_estado(de)
    version, historial = inc.version, list(inc.historial)
    when = at(100)
    assert hacer(inc, a, EXPECTED_OWNERS[de], when) == ROUTING_KEYS[a]
    assert inc.estado is a
    assert inc.version == version + 1
    assert inc.actualizada_en == when
    assert inc.historial[:-1] == historial
    entrada = inc.historial[-1]
    assert (entrada.de, entrada.a, entrada.en) == (de, a, when)
    assert entrada.por.nombre is None  # no personal data in the history


def test_every_design_transition_reachable_by_an_action():
    # abierta is never a destination, so every design pair has an action.
    assert {(de.value, a.value) for de, a in ALLOWED_BY_ACTION} == EXPECTED_TRANSITIONS


# --- every forbidden call leaves the incident untouched ------------------------------

FORBIDDEN = [
    (de, a, servicio)
    for de, a, servicio in itertools.product(Estado, DESTINOS, [APERTURA, RESOLUCION])
    if EXPECTED_OWNERS[de] != servicio or (de.value, a.value) not in EXPECTED_TRANSITIONS
]


@pytest.mark.parametrize("de,a,servicio", FORBIDDEN)
def test_forbidden_call_raises_and_changes_nothing(de, a, servicio):
    inc = en_estado(de)
    before = inc.to_snapshot(incluir_internas=True)
    expected = NoEsPropietario if EXPECTED_OWNERS[de] != servicio else TransicionNoPermitida
    with pytest.raises(expected) as err:
        hacer(inc, a, servicio, at(100))
    assert err.value.estado_actual is de
    assert inc.to_snapshot(incluir_internas=True) == before


def test_final_states_have_no_owner():
    for estado in (Estado.CERRADA, Estado.CANCELADA, Estado.FUSIONADA):
        inc = en_estado(estado)
        assert inc.es_final and inc.propietario is None
        for servicio in (APERTURA, RESOLUCION):
            with pytest.raises(NoEsPropietario) as err:
                inc.cancelar(servicio, CLIENTE_ACTOR, at(100))
            assert err.value.propietario is None


def test_invalid_argument_changes_nothing():
    inc = en_estado(Estado.EN_CURSO)
    before = inc.to_snapshot(incluir_internas=True)
    with pytest.raises(ValueError):
        inc.resolver(RESOLUCION, "   ", AGENTE, at(100))
    with pytest.raises(ValueError):
        inc.resolver(RESOLUCION, "ok", AGENTE, datetime(2024, 5, 2))
    with pytest.raises(ValueError):
        inc.asignar(RESOLUCION, {"nombre": "sin id"}, SUPERVISOR, at(100))
    with pytest.raises(ValueError):
        inc.cancelar(RESOLUCION, {"id": "c-1"}, at(100))  # actor without rol
    assert inc.to_snapshot(incluir_internas=True) == before


def test_invalid_argument_keeps_the_previous_proposal():
    inc = en_estado(Estado.REABIERTA)
    inc.asignar(RESOLUCION, EMPLEADO, SISTEMA, at(50))
    before = inc.to_snapshot(incluir_internas=True)
    assert before["resolucion"] is not None
    with pytest.raises(ValueError):
        inc.resolver(RESOLUCION, "", AGENTE, at(100))
    assert inc.to_snapshot(incluir_internas=True) == before


# --- what each action writes ---------------------------------------------------------

def test_asignar_sets_assignee_and_records_it():
    inc = nueva()
    inc.asignar(RESOLUCION, EMPLEADO, SISTEMA, at(1))
    assert inc.asignada_a == EmpleadoRef("e-1", "Eva")
    assert inc.historial[-1].cambios == {"asignada_a": {"de": None, "a": EMPLEADO}}
    inc.iniciar(RESOLUCION, AGENTE, at(2))
    inc.asignar(RESOLUCION, OTRO_EMPLEADO, SUPERVISOR, at(3))  # reassign from en_curso
    assert inc.asignada_a == EmpleadoRef("e-2", "Luis")
    assert inc.historial[-1].cambios == {"asignada_a": {"de": EMPLEADO, "a": OTRO_EMPLEADO}}
    assert inc.historial[-1].por.id == "e-9"


def test_resolver_sets_resolution():
    inc = en_estado(Estado.EN_CURSO)
    inc.resolver(RESOLUCION, "Cambiada la resistencia", AGENTE, at(50))
    assert inc.resolucion.texto == "Cambiada la resistencia"
    assert inc.resolucion.por == EmpleadoRef("e-1", "Eva")
    assert inc.resolucion.en == inc.resuelta_en == at(50)
    assert inc.propietario == APERTURA


def test_cerrar_sets_cerrada_en_and_marks_automatic_closes():
    inc = en_estado(Estado.RESUELTA)
    inc.cerrar(APERTURA, CLIENTE_ACTOR, at(60))
    assert inc.cerrada_en == at(60) and inc.historial[-1].motivo is None
    auto = en_estado(Estado.RESUELTA)
    auto.cerrar(APERTURA, SISTEMA, at(60), automatico=True)
    assert auto.historial[-1].motivo == MOTIVO_CIERRE_AUTOMATICO
    assert auto.historial[-1].por.rol == "sistema"


def test_reabrir_keeps_the_assignee_and_the_reason():
    inc = en_estado(Estado.RESUELTA)
    propuesta = inc.resolucion
    inc.reabrir(APERTURA, "Sigue sin calentar", CLIENTE_ACTOR, at(70))
    assert inc.asignada_a == EmpleadoRef("e-1", "Eva")
    assert inc.motivo_reapertura == "Sigue sin calentar"
    assert inc.historial[-1].motivo == "Sigue sin calentar"
    assert inc.resolucion == propuesta  # the rejected proposal, kept until the next one
    assert inc.propietario == RESOLUCION
    inc.asignar(RESOLUCION, inc.asignada_a, SISTEMA, at(71))
    inc.resolver(RESOLUCION, "Tostadora sustituida", AGENTE, at(80))
    assert inc.resolucion.texto == "Tostadora sustituida" and inc.resuelta_en == at(80)


def test_reabrir_requires_a_reason():
    inc = en_estado(Estado.RESUELTA)
    with pytest.raises(ValueError):
        inc.reabrir(APERTURA, "", CLIENTE_ACTOR, at(70))
    assert inc.estado is Estado.RESUELTA


@pytest.mark.parametrize("de", [Estado.ABIERTA, Estado.ASIGNADA, Estado.EN_CURSO, Estado.REABIERTA])
def test_cancelar_sets_cerrada_en_and_reason(de):
    inc = en_estado(de)
    inc.cancelar(RESOLUCION, CLIENTE_ACTOR, at(90), motivo="Ya no la necesito")
    assert inc.estado is Estado.CANCELADA
    assert inc.cerrada_en == at(90)
    assert inc.historial[-1].motivo == "Ya no la necesito"


def test_a_full_lifecycle_counts_one_version_per_change():
    inc = nueva()
    inc.asignar(RESOLUCION, EMPLEADO, SISTEMA, at(1))
    inc.iniciar(RESOLUCION, AGENTE, at(2))
    inc.resolver(RESOLUCION, "Hecho", AGENTE, at(3))
    inc.reabrir(APERTURA, "No", CLIENTE_ACTOR, at(4))
    inc.asignar(RESOLUCION, EMPLEADO, SISTEMA, at(5))
    inc.resolver(RESOLUCION, "Ahora sí", AGENTE, at(6))
    inc.cerrar(APERTURA, CLIENTE_ACTOR, at(7))
    assert inc.version == 8 == len(inc.historial)
    assert [e.a.value for e in inc.historial] == [
        "abierta", "asignada", "en_curso", "resuelta", "reabierta", "asignada", "resuelta", "cerrada",
    ]
    assert all(prev.a is nxt.de for prev, nxt in zip(inc.historial, inc.historial[1:]))


# --- cambiar_datos ------------------------------------------------------------------

@pytest.mark.parametrize("de", [Estado.ABIERTA, Estado.ASIGNADA, Estado.EN_CURSO, Estado.REABIERTA])
def test_cambiar_datos_while_resolucion_owns(de):
    inc = en_estado(de)
    version = inc.version
    key = inc.cambiar_datos(RESOLUCION, prioridad="critica", categoria="hogar", por=SUPERVISOR, en=at(100))
    assert key == EVENTO_ACTUALIZADA
    assert inc.prioridad is Prioridad.CRITICA and inc.categoria == "hogar"
    assert inc.version == version + 1 and inc.estado is de and inc.actualizada_en == at(100)
    entrada = inc.historial[-1]
    assert entrada.de is entrada.a is de
    assert entrada.cambios == {
        "prioridad": {"de": "media", "a": "critica"},
        "categoria": {"de": "electrodomesticos", "a": "hogar"},
    }


def test_cambiar_datos_only_records_what_changed():
    inc = nueva()
    inc.cambiar_datos(RESOLUCION, prioridad="media", categoria="hogar", por=SUPERVISOR, en=at(1))
    assert inc.historial[-1].cambios == {"categoria": {"de": "electrodomesticos", "a": "hogar"}}
    inc.cambiar_datos(RESOLUCION, categoria="", por=SUPERVISOR, en=at(2))  # "" clears
    assert inc.categoria is None and inc.version == 3


def test_cambiar_datos_without_changes_is_a_no_op():
    inc = nueva()
    before = inc.to_snapshot(incluir_internas=True)
    assert inc.cambiar_datos(RESOLUCION, prioridad="media", por=SUPERVISOR, en=at(1)) is None
    assert inc.cambiar_datos(RESOLUCION, por=SUPERVISOR, en=at(1)) is None
    assert inc.to_snapshot(incluir_internas=True) == before


@pytest.mark.parametrize(
    "de,servicio,error",
    [
        (Estado.ABIERTA, APERTURA, NoEsPropietario),
        (Estado.EN_CURSO, APERTURA, NoEsPropietario),
        (Estado.RESUELTA, RESOLUCION, NoEsPropietario),
        (Estado.RESUELTA, APERTURA, TransicionNoPermitida),
        (Estado.CERRADA, RESOLUCION, NoEsPropietario),
        (Estado.CANCELADA, APERTURA, NoEsPropietario),
    ],
)
def test_cambiar_datos_refused_unless_resolucion_owns(de, servicio, error):
    inc = en_estado(de)
    before = inc.to_snapshot(incluir_internas=True)
    with pytest.raises(error) as err:
        inc.cambiar_datos(servicio, prioridad="alta", por=SUPERVISOR, en=at(100))
    assert err.value.estado_actual is de
    assert inc.to_snapshot(incluir_internas=True) == before


def test_cambiar_datos_rejects_unknown_priority_without_changing():
    inc = nueva()
    with pytest.raises(ValueError):
        inc.cambiar_datos(RESOLUCION, prioridad="urgente", categoria="hogar", por=SUPERVISOR, en=at(1))
    assert inc.categoria == "electrodomesticos" and inc.version == 1


# --- comments -----------------------------------------------------------------------

NON_FINAL = [e for e in Estado if e not in (Estado.CERRADA, Estado.CANCELADA, Estado.FUSIONADA)]


@pytest.mark.parametrize("estado", NON_FINAL)
def test_comentar_in_any_non_final_state_is_unversioned(estado):
    inc = en_estado(estado)
    version, actualizada_en, historial = inc.version, inc.actualizada_en, list(inc.historial)
    key = inc.comentar("k-1", CLIENTE_ACTOR, "¿Alguna novedad?", False, at(100))
    assert key == EVENTO_COMENTADA
    assert (inc.version, inc.actualizada_en, inc.estado) == (version, actualizada_en, estado)
    assert inc.historial == historial
    [comentario] = [c for c in inc.comentarios if c.id == "k-1"]  # a question asked them is one too
    assert (comentario.id, comentario.texto, comentario.interna) == ("k-1", "¿Alguna novedad?", False)
    assert comentario.autor.nombre == "Ana Pérez" and comentario.creado_en == at(100)


def test_comentar_is_idempotent_by_id():
    inc = nueva()
    assert inc.comentar("k-1", CLIENTE_ACTOR, "Hola", False, at(1)) == EVENTO_COMENTADA
    assert inc.comentar("k-1", CLIENTE_ACTOR, "Hola otra vez", False, at(2)) is None
    assert [c.texto for c in inc.comentarios] == ["Hola"]


def test_comments_are_ordered_by_time_then_id():
    inc = nueva()
    inc.comentar("b", AGENTE, "segundo", True, at(5))
    inc.comentar("z", CLIENTE_ACTOR, "primero", False, at(1))
    inc.comentar("a", CLIENTE_ACTOR, "empate", False, at(5))
    assert [c.id for c in inc.comentarios] == ["z", "a", "b"]


@pytest.mark.parametrize("estado", [Estado.CERRADA, Estado.CANCELADA, Estado.FUSIONADA])
def test_comentar_refused_once_final(estado):
    inc = en_estado(estado)
    before = inc.to_snapshot(incluir_internas=True)
    with pytest.raises(IncidenciaFinalizada) as err:
        inc.comentar("k-1", CLIENTE_ACTOR, "Hola", False, at(100))
    assert err.value.estado_actual is estado
    assert inc.to_snapshot(incluir_internas=True) == before


def test_retried_comment_after_close_is_still_a_no_op():
    inc = en_estado(Estado.RESUELTA)
    inc.comentar("k-1", CLIENTE_ACTOR, "Gracias", False, at(10))
    inc.cerrar(APERTURA, CLIENTE_ACTOR, at(11))
    assert inc.comentar("k-1", CLIENTE_ACTOR, "Gracias", False, at(12)) is None


def test_comentar_rejects_blank_text():
    inc = nueva()
    with pytest.raises(ValueError):
        inc.comentar("k-1", CLIENTE_ACTOR, " ", False, at(1))
    assert inc.comentarios == []


# --- snapshots -------------------------------------------------------------------------

def vivida() -> Incidencia:
    """An incident that went through most of the lifecycle, with comments."""
    inc = nueva()
    inc.comentar("k-1", CLIENTE_ACTOR, "Es urgente", False, at(1))
    inc.asignar(RESOLUCION, EMPLEADO, SISTEMA, at(2))
    inc.comentar("n-1", AGENTE, "Cliente habitual", True, at(3))
    inc.cambiar_datos(RESOLUCION, prioridad="alta", por=SUPERVISOR, en=at(4))
    inc.iniciar(RESOLUCION, AGENTE, at(5))
    inc.resolver(RESOLUCION, "Cambiada la resistencia", AGENTE, at(6))
    inc.reabrir(APERTURA, "Sigue igual", CLIENTE_ACTOR, at(7))
    inc.comentar("k-2", AGENTE, "Lo reviso", False, at(8))
    return inc


def test_snapshot_is_json_safe_with_utc_strings():
    snap = vivida().to_snapshot(incluir_internas=True)
    assert json.loads(json.dumps(snap)) == snap
    assert snap["estado"] == "reabierta" and snap["prioridad"] == "alta"
    assert snap["creada_en"] == "2024-05-01T10:00:00.000000Z"
    instants = [snap["creada_en"], snap["actualizada_en"], snap["resuelta_en"], snap["resolucion"]["en"]]
    instants += [e["en"] for e in snap["historial"]] + [c["creado_en"] for c in snap["comentarios"]]
    assert all(isinstance(s, str) and s.endswith("Z") for s in instants)
    assert snap["cerrada_en"] is None
    assert set(snap) == {
        "id", "cliente", "producto", "titulo", "descripcion", "categoria", "prioridad",
        "estado", "asignada_a", "version", "historial", "comentarios", "resolucion",
        "creada_en", "actualizada_en", "resuelta_en", "cerrada_en", "motivo_reapertura", "canal", "etiquetas",
        "fusionada_en", "fusionadas", "valoracion", "plazos",
    }
    assert set(vivida().to_snapshot(incluir_internas=False)) == set(snap) - {"etiquetas"}  # staff-only
    assert snap["canal"] == "web"
    assert snap["historial"][0] == {
        "de": None, "a": "abierta", "por": {"id": "c-1", "rol": "cliente"},
        "en": "2024-05-01T10:00:00.000000Z", "motivo": None, "cambios": None,
    }


def test_the_channel_is_kept_through_a_snapshot_and_an_old_snapshot_came_by_the_web():
    phoned = Incidencia.abrir("i-9", {"id": "c-1", "nombre": "Ana"}, {"referencia": "R", "nombre": "Radio"},
                              "No va", "Nada", None, "media", T0, canal="telefono")
    assert phoned.canal == Canal.TELEFONO
    assert Incidencia.from_snapshot(phoned.to_snapshot(True)).canal == Canal.TELEFONO
    old = phoned.to_snapshot(True)
    del old["canal"]
    assert Incidencia.from_snapshot(old).canal == Canal.WEB
    with pytest.raises(ValueError):
        Incidencia.from_snapshot({**phoned.to_snapshot(True), "canal": "fax"})
    with pytest.raises(ValueError):
        Incidencia.abrir("i-9", {"id": "c-1", "nombre": "Ana"}, {"referencia": "R", "nombre": "Radio"},
                         "No va", "Nada", None, "media", T0, canal="fax")


def test_an_incident_opened_by_an_employee_names_them_first_in_its_history():
    por = Actor("e-3", "agente", "Eva Soporte")
    phoned = Incidencia.abrir("i-9", {"id": "c-1", "nombre": "Ana"}, {"referencia": "R", "nombre": "Radio"},
                              "No va", "Nada", None, "media", T0, canal="telefono", por=por)
    assert phoned.cliente.id == "c-1"
    assert [(h.de, h.a, h.por) for h in phoned.historial] == [(None, Estado.ABIERTA, Actor("e-3", "agente"))]
    assert Incidencia.from_snapshot(phoned.to_snapshot(False)).historial == phoned.historial


@pytest.mark.parametrize("estado", list(Estado))
def test_snapshot_round_trip_is_exact(estado):
    inc = en_estado(estado)
    if not inc.es_final:
        inc.comentar("k-1", CLIENTE_ACTOR, "Hola", False, at(100))
        inc.comentar("n-1", AGENTE, "Nota", True, at(101))
    snap = inc.to_snapshot(incluir_internas=True)
    again = Incidencia.from_snapshot(snap)
    assert again == inc
    assert again.to_snapshot(incluir_internas=True) == snap


def test_full_lifecycle_round_trip():
    inc = vivida()
    assert Incidencia.from_snapshot(inc.to_snapshot(incluir_internas=True)) == inc
    assert Incidencia.from_snapshot(json.loads(json.dumps(inc.to_snapshot(True)))) == inc


def test_internal_comments_excluded_unless_asked():
    inc = vivida()
    public = inc.to_snapshot(incluir_internas=False)
    assert [c["id"] for c in public["comentarios"]] == ["k-1", "k-2"]
    assert all(c["interna"] is False for c in public["comentarios"])
    assert "Cliente habitual" not in json.dumps(public)
    internal = inc.to_snapshot(incluir_internas=True)
    assert [c["id"] for c in internal["comentarios"]] == ["k-1", "n-1", "k-2"]


def test_from_snapshot_ignores_unknown_keys_and_tolerates_missing_optional_ones():
    snap = {
        "id": "i-9",
        "cliente": {"id": "c-1", "nombre": "Ana", "email": "ignored@example.com"},
        "producto": {"referencia": "SKU-1", "nombre": "Radio"},
        "titulo": "Sin sonido",
        "descripcion": "No suena",
        "prioridad": "baja",
        "estado": "abierta",
        "version": 1,
        "creada_en": "2024-05-01T10:00:00Z",
        "_rev": 3,
        "extra": {"anything": True},
    }
    inc = Incidencia.from_snapshot(snap)
    assert inc.categoria is None and inc.asignada_a is None and inc.resolucion is None
    assert inc.historial == [] and inc.comentarios == []
    assert inc.cliente.anonimizado is False and inc.producto.pedido is None
    assert inc.actualizada_en == inc.creada_en == T0
    assert inc.motivo_reapertura is None


@pytest.mark.parametrize(
    "broken",
    [
        {"estado": "perdida"},
        {"version": 0},
        {"version": "2"},
        {"creada_en": "ayer"},
        {"cliente": None},
        {"historial": [{"de": None, "a": "abierta"}]},
        {"comentarios": [{"id": "x"}]},
    ],
)
def test_from_snapshot_rejects_malformed(broken):
    snap = nueva().to_snapshot(incluir_internas=True)
    snap.update(broken)
    with pytest.raises(ValueError):
        Incidencia.from_snapshot(snap)


@pytest.mark.parametrize("required", ["id", "cliente", "producto", "titulo", "estado", "version", "creada_en"])
def test_from_snapshot_requires_the_core_fields(required):
    snap = nueva().to_snapshot(incluir_internas=True)
    del snap[required]
    with pytest.raises(ValueError):
        Incidencia.from_snapshot(snap)


def test_snapshot_is_a_copy():
    inc = vivida()
    snap = inc.to_snapshot(incluir_internas=True)
    snap["historial"][2]["cambios"]["prioridad"]["a"] = "baja"
    snap["cliente"]["nombre"] = "X"
    assert inc.historial[2].cambios["prioridad"]["a"] == "alta"
    assert inc.cliente.nombre == "Ana Pérez"


# --- anonymisation --------------------------------------------------------------------

def test_anonimizar_cliente_erases_the_name_everywhere_without_a_version():
    inc = vivida()
    version, actualizada_en = inc.version, inc.actualizada_en
    assert inc.anonimizar_cliente() is True
    assert inc.cliente.nombre == NOMBRE_ANONIMO and inc.cliente.anonimizado is True
    assert inc.cliente.id == "c-1"
    assert (inc.version, inc.actualizada_en) == (version, actualizada_en)
    por_autor = {c.id: c.autor.nombre for c in inc.comentarios}
    assert por_autor == {"k-1": NOMBRE_ANONIMO, "n-1": "Eva", "k-2": "Eva"}
    assert "Ana Pérez" not in json.dumps(inc.to_snapshot(incluir_internas=True))


def test_anonimizar_cliente_is_idempotent():
    inc = vivida()
    inc.anonimizar_cliente()
    snap = inc.to_snapshot(incluir_internas=True)
    assert inc.anonimizar_cliente() is False
    assert inc.to_snapshot(incluir_internas=True) == snap


def test_anonymised_customer_comments_stay_anonymous():
    inc = nueva()
    inc.anonimizar_cliente()
    inc.comentar("k-1", CLIENTE_ACTOR, "Hola", False, at(1))
    assert inc.comentarios[0].autor.nombre == NOMBRE_ANONIMO


def test_anonymisation_works_in_final_states():
    inc = en_estado(Estado.CERRADA)
    assert inc.anonimizar_cliente() is True and inc.estado is Estado.CERRADA


@pytest.mark.parametrize("texto, guardada", [
    ("vip", "vip"), ("  Rotura en   Transporte ", "rotura-en-transporte"), ("Envío_urgente", "envío_urgente"),
    ("a", "a"), ("x" * 30, "x" * 30), ("2026", "2026"),
])
def test_a_tag_is_kept_trimmed_in_lower_case_with_dashes(texto, guardada):
    assert etiqueta(texto) == guardada


@pytest.mark.parametrize("texto", ["", "   ", "-vip", "vip-", "_x", "x" * 31, "a/b", "a,b", "¿qué?", "a\x00b", "#vip"])
def test_anything_else_is_no_tag(texto):
    with pytest.raises(ValueError):
        etiqueta(texto)


def test_tagging_adds_once_removes_and_stops_at_the_limit():
    inc = en_estado(Estado.ASIGNADA)
    version, historial = inc.version, list(inc.historial)
    assert inc.etiquetar("VIP") and not inc.etiquetar("vip")
    assert inc.etiquetas == ["vip"] and (inc.version, inc.historial) == (version, historial)  # no change of state
    assert inc.quitar_etiqueta("Vip") and not inc.quitar_etiqueta("vip") and inc.etiquetas == []
    for n in range(MAX_ETIQUETAS):
        inc.etiquetar(f"t{n:02d}")
    with pytest.raises(ValueError):
        inc.etiquetar("una-mas")
    assert len(inc.etiquetas) == MAX_ETIQUETAS and inc.etiquetas == sorted(inc.etiquetas)


# --- merging a duplicate -----------------------------------------------------------------

def _pareja(estado_origen: Estado = Estado.ASIGNADA, estado_destino: Estado = Estado.EN_CURSO):
    origen, destino = en_estado(estado_origen), en_estado(estado_destino)
    origen.id, destino.id = "i-dup", "i-orig"
    return origen, destino


def test_a_merge_copies_the_public_comments_records_it_in_both_histories_and_ends_the_duplicate():
    origen, destino = _pareja()
    origen.comentar("c1", CLIENTE_ACTOR, "Es la misma tostadora", False, at(50))
    origen.comentar("c2", AGENTE, "Cliente ya llamó", True, at(51))
    destino.comentar("c9", AGENTE, "Revisando", False, at(40))
    version_destino = destino.version
    assert destino.recibir_fusion(RESOLUCION, origen, SUPERVISOR, at(60)) == EVENTO_ACTUALIZADA
    assert [(c.id, c.texto, c.interna, c.creado_en) for c in destino.comentarios] == [
        ("c9", "Revisando", False, at(40)), ("i-dup.c1", "Es la misma tostadora", False, at(50))]
    assert destino.fusionadas == ["i-dup"] and destino.version == version_destino + 1
    entrada = destino.historial[-1]
    assert (entrada.de, entrada.a, entrada.cambios) == (
        Estado.EN_CURSO, Estado.EN_CURSO, {"fusion": {"de": "i-dup", "a": "i-orig", "titulo": "No calienta"}})
    assert origen.fusionar_en(RESOLUCION, destino, SUPERVISOR, at(61)) == EVENTO_FUSIONADA
    assert (origen.estado, origen.fusionada_en, origen.cerrada_en, origen.es_final) == (
        Estado.FUSIONADA, "i-orig", at(61), True)
    assert origen.historial[-1].cambios == {"fusionada_en": {"de": None, "a": "i-orig", "titulo": "No calienta"}}
    snapshot = origen.to_snapshot(incluir_internas=False)
    assert (snapshot["fusionada_en"], Incidencia.from_snapshot(snapshot).fusionada_en) == ("i-orig", "i-orig")
    assert Incidencia.from_snapshot(destino.to_snapshot(incluir_internas=False)).fusionadas == ["i-dup"]


def test_a_retried_merge_changes_nothing_twice():
    origen, destino = _pareja()
    origen.comentar("c1", CLIENTE_ACTOR, "Igual", False, at(50))
    destino.recibir_fusion(RESOLUCION, origen, SUPERVISOR, at(60))
    origen.fusionar_en(RESOLUCION, destino, SUPERVISOR, at(61))
    before = (destino.to_snapshot(True), origen.to_snapshot(True))
    assert destino.recibir_fusion(RESOLUCION, origen, SUPERVISOR, at(70)) is None
    assert origen.fusionar_en(RESOLUCION, destino, SUPERVISOR, at(71)) is None
    assert (destino.to_snapshot(True), origen.to_snapshot(True)) == before


@pytest.mark.parametrize("cambio, mensaje", [
    (lambda o, d: setattr(d, "id", o.id), "consigo misma"),
    (lambda o, d: setattr(d, "cliente", dataclasses.replace(d.cliente, id="c-otro")), "mismo cliente"),
])
def test_a_merge_that_can_never_be_made_is_refused_changing_nothing(cambio, mensaje):
    origen, destino = _pareja()
    cambio(origen, destino)
    before = (origen.to_snapshot(True), destino.to_snapshot(True))
    for half in (lambda: destino.recibir_fusion(RESOLUCION, origen, SUPERVISOR, at(60)),
                 lambda: origen.fusionar_en(RESOLUCION, destino, SUPERVISOR, at(60))):
        with pytest.raises(FusionNoPermitida, match=mensaje):
            half()
    assert (origen.to_snapshot(True), destino.to_snapshot(True)) == before


@pytest.mark.parametrize("estado", [e for e in Estado if e not in (
    Estado.ABIERTA, Estado.ASIGNADA, Estado.EN_CURSO, Estado.REABIERTA)])
def test_nothing_is_merged_into_an_incident_resolucion_does_not_own(estado):
    origen, destino = _pareja(estado_destino=estado)
    with pytest.raises(FusionNoPermitida, match="solo se fusiona en una"):
        destino.recibir_fusion(RESOLUCION, origen, SUPERVISOR, at(60))
    with pytest.raises(FusionNoPermitida):
        origen.fusionar_en(RESOLUCION, destino, SUPERVISOR, at(60))
    assert (origen.estado, destino.fusionadas) == (Estado.ASIGNADA, [])


@pytest.mark.parametrize("estado", [Estado.RESUELTA, Estado.CERRADA, Estado.CANCELADA, Estado.FUSIONADA])
def test_a_duplicate_resolucion_does_not_own_is_refused_by_the_state_machine(estado):
    origen, destino = _pareja(estado_origen=estado)
    with pytest.raises(ConflictoDeEstado):
        destino.recibir_fusion(RESOLUCION, origen, SUPERVISOR, at(60))
    assert destino.fusionadas == [] and destino.historial[-1].cambios is None or "fusion" not in (
        destino.historial[-1].cambios or {})


def test_only_resolucion_merges():
    origen, destino = _pareja()
    with pytest.raises(NoEsPropietario):
        destino.recibir_fusion(APERTURA, origen, SUPERVISOR, at(60))
    with pytest.raises(NoEsPropietario):
        origen.fusionar_en(APERTURA, destino, SUPERVISOR, at(60))


def test_a_question_is_a_public_comment_the_history_names_and_the_customer_owns_the_wait():
    inc = en_estado(Estado.EN_CURSO)
    assert inc.consultar(RESOLUCION, "q-1", "  ¿Qué modelo es?", AGENTE, at(50)) == EVENTO_ESPERANDO_CLIENTE
    assert (inc.estado, inc.propietario) == (Estado.ESPERANDO_CLIENTE, APERTURA)
    [pregunta] = [c for c in inc.comentarios if c.id == "q-1"]
    assert (pregunta.interna, pregunta.autor.id, pregunta.texto) == (False, "e-1", "  ¿Qué modelo es?")
    assert inc.historial[-1].cambios == {"consulta": {"de": None, "a": "q-1"}}
    with pytest.raises(NoEsPropietario):
        inc.consultar(RESOLUCION, "q-2", "¿Y el color?", AGENTE, at(51))
    assert inc.iniciar(APERTURA, CLIENTE_ACTOR, at(52)) == EVENTO_EN_CURSO
    assert (inc.estado, inc.asignada_a.id, inc.propietario) == (Estado.EN_CURSO, "e-1", RESOLUCION)


def test_a_question_needs_words_and_a_new_comment_id():
    inc = en_estado(Estado.ASIGNADA)
    before = inc.to_snapshot(True)
    with pytest.raises(ValueError):
        inc.consultar(RESOLUCION, "q-1", "   ", AGENTE, at(50))
    inc.comentar("q-1", AGENTE, "hola", False, at(49))
    with pytest.raises(ValueError):
        inc.consultar(RESOLUCION, "q-1", "¿Qué modelo es?", AGENTE, at(50))
    assert inc.estado is Estado.ASIGNADA and inc.version == before["version"]


# --- the customer's rating ------------------------------------------------------------
def test_only_a_closed_incident_is_rated_by_its_customer_once_without_a_new_version():
    inc = en_estado(Estado.RESUELTA)
    with pytest.raises(ValoracionNoPermitida):
        inc.valorar(APERTURA, 5, None, CLIENTE_ACTOR, at(50))  # not closed yet
    inc.cerrar(APERTURA, CLIENTE_ACTOR, at(51))
    version, snapshot_before = inc.version, inc.to_snapshot(True)
    with pytest.raises(ValoracionNoPermitida):
        inc.valorar(APERTURA, 5, None, AGENTE, at(52))  # staff do not rate
    with pytest.raises(ValoracionNoPermitida):
        inc.valorar(RESOLUCION, 5, None, CLIENTE_ACTOR, at(52))
    with pytest.raises(ValueError):
        inc.valorar(APERTURA, 6, None, CLIENTE_ACTOR, at(52))
    assert inc.to_snapshot(True) == snapshot_before
    assert inc.valorar(APERTURA, 4, "  Rápidos  ", CLIENTE_ACTOR, at(53)) == EVENTO_VALORADA
    assert (inc.valoracion.puntuacion, inc.valoracion.comentario, inc.version) == (4, "Rápidos", version)
    with pytest.raises(ValoracionNoPermitida):
        inc.valorar(APERTURA, 1, None, CLIENTE_ACTOR, at(54))
    assert Incidencia.from_snapshot(inc.to_snapshot(False)).valoracion == inc.valoracion


def test_a_rating_that_arrives_before_the_close_it_follows_stays():
    resolucion_side = en_estado(Estado.RESUELTA)
    apertura_side = Incidencia.from_snapshot(resolucion_side.to_snapshot(False))
    apertura_side.cerrar(APERTURA, CLIENTE_ACTOR, at(51))
    cerrada = apertura_side.to_snapshot(False)
    apertura_side.valorar(APERTURA, 2, None, CLIENTE_ACTOR, at(52))
    rated = dataclasses.replace(resolucion_side, valoracion=apertura_side.valoracion)  # the rating's event first
    merged, changed = aplicar_snapshot(rated, cerrada, conservar_internas=True)
    assert changed and merged.estado is Estado.CERRADA and merged.valoracion == apertura_side.valoracion
