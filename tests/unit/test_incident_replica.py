"""Applying the other service's snapshots to a local replica (DESIGN §3)."""
from __future__ import annotations

import copy
import itertools
import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidencias_dominio import (
    APERTURA,
    NOMBRE_ANONIMO,
    RESOLUCION,
    SISTEMA,
    Comentario,
    Estado,
    Incidencia,
    aplicar_snapshot,
    fusionar_comentarios,
)

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
CLIENTE = {"id": "c-1", "nombre": "Ana Pérez"}
CLIENTE_ACTOR = {"id": "c-1", "rol": "cliente", "nombre": "Ana Pérez"}
EMPLEADO = {"id": "e-1", "nombre": "Eva"}
AGENTE = {"id": "e-1", "rol": "agente", "nombre": "Eva"}
STATE_KEYS = [
    "cliente", "producto", "titulo", "descripcion", "categoria", "prioridad", "estado",
    "asignada_a", "version", "historial", "resolucion", "creada_en", "actualizada_en",
    "resuelta_en", "cerrada_en", "motivo_reapertura",
]


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def nueva() -> Incidencia:
    return Incidencia.abrir(
        "i-1", CLIENTE, {"referencia": "SKU-42", "nombre": "Tostadora"},
        "No calienta", "No calienta desde ayer", "electrodomesticos", "media", T0,
    )


def comentario(cid: str, minute: int, *, interna: bool = False, autor=AGENTE) -> dict:
    return {
        "id": cid,
        "autor": dict(autor),
        "texto": f"texto {cid}",
        "interna": interna,
        "creado_en": at(minute).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


def escenario() -> list[dict]:
    """The snapshots the two services publish for one incident, v1..v5.

    Each service also writes comments the other only learns about later, and
    resolucion's snapshots carry an internal note so the filter is exercised.
    """
    ap = nueva()
    snaps = [ap.to_snapshot(incluir_internas=False)]  # v1, apertura
    ap.comentar("k-1", CLIENTE_ACTOR, "Es urgente", False, at(1))
    res, _ = aplicar_snapshot(None, snaps[0], conservar_internas=True)
    res.asignar(RESOLUCION, EMPLEADO, SISTEMA, at(2))
    res.comentar("n-1", AGENTE, "Cliente habitual", True, at(3))
    snaps.append(res.to_snapshot(incluir_internas=True))  # v2
    res.iniciar(RESOLUCION, AGENTE, at(4))
    res.comentar("k-2", AGENTE, "Lo reviso", False, at(5))
    snaps.append(res.to_snapshot(incluir_internas=True))  # v3
    res.resolver(RESOLUCION, "Cambiada la resistencia", AGENTE, at(6))
    snaps.append(res.to_snapshot(incluir_internas=False))  # v4
    ap, _ = aplicar_snapshot(ap, snaps[-1], conservar_internas=False)
    ap.comentar("k-3", CLIENTE_ACTOR, "Gracias", False, at(7))
    ap.cerrar(APERTURA, CLIENTE_ACTOR, at(8))
    snaps.append(ap.to_snapshot(incluir_internas=False))  # v5
    assert [s["version"] for s in snaps] == [1, 2, 3, 4, 5]
    return snaps


SNAPS = escenario()


def anonimizado(snap: dict) -> dict:
    """``snap`` as published by a replica that already erased the customer."""
    inc = Incidencia.from_snapshot(snap)
    inc.anonimizar_cliente()
    return inc.to_snapshot(incluir_internas=True)


def aplicar_todos(snaps, *, conservar_internas, local=None):
    for snap in snaps:
        local, _ = aplicar_snapshot(local, snap, conservar_internas=conservar_internas)
    return local


def esperado(snaps, *, conservar_internas) -> dict:
    """Highest version's state + union of comments (+ sticky anonymisation), as
    the staff side stores it (``to_snapshot(incluir_internas=True)``)."""
    top = copy.deepcopy(max(snaps, key=lambda s: s["version"]))
    union = {}
    for snap in snaps:
        for c in snap["comentarios"]:
            if conservar_internas or not c["interna"]:
                union.setdefault(c["id"], copy.deepcopy(c))
    if any(s["cliente"]["anonimizado"] for s in snaps):
        top["cliente"] = {"id": "c-1", "nombre": NOMBRE_ANONIMO, "anonimizado": True}
        for c in union.values():
            if c["autor"]["rol"] == "cliente":
                c["autor"]["nombre"] = NOMBRE_ANONIMO
    top["comentarios"] = sorted(union.values(), key=lambda c: (c["creado_en"], c["id"]))
    top["etiquetas"] = []  # the replica's own: none come in a snapshot
    return top


# --- the basic rule -------------------------------------------------------------------

def test_first_snapshot_creates_the_replica():
    inc, changed = aplicar_snapshot(None, SNAPS[1], conservar_internas=True)
    assert changed is True
    assert inc.to_snapshot(incluir_internas=True) == SNAPS[1]


def test_higher_version_replaces_state_and_keeps_local_comments():
    local = Incidencia.from_snapshot(SNAPS[0])
    local.comentar("k-1", CLIENTE_ACTOR, "Es urgente", False, at(1))
    inc, changed = aplicar_snapshot(local, SNAPS[3], conservar_internas=False)
    assert changed is True
    snap = inc.to_snapshot(incluir_internas=True)
    assert {k: snap[k] for k in STATE_KEYS} == {k: SNAPS[3][k] for k in STATE_KEYS}
    assert [c["id"] for c in snap["comentarios"]] == ["k-1", "k-2"]


@pytest.mark.parametrize("newer,older", [(3, 1), (3, 2), (4, 0), (2, 2)])
def test_equal_or_lower_version_changes_no_state_field(newer, older):
    local = Incidencia.from_snapshot(SNAPS[newer])
    stale = copy.deepcopy(SNAPS[older])
    stale["titulo"] = "Cambiado por otro"
    stale["prioridad"] = "critica"
    inc, _ = aplicar_snapshot(local, stale, conservar_internas=True)
    snap = inc.to_snapshot(incluir_internas=True)
    assert {k: snap[k] for k in STATE_KEYS} == {k: SNAPS[newer][k] for k in STATE_KEYS}


def test_older_snapshot_still_brings_its_comments():
    local = Incidencia.from_snapshot(SNAPS[3])
    stale = copy.deepcopy(SNAPS[1])
    stale["comentarios"].append(comentario("k-0", 0, autor=CLIENTE_ACTOR))
    inc, changed = aplicar_snapshot(local, stale, conservar_internas=True)
    assert changed is True
    assert inc.version == 4 and inc.estado is Estado.RESUELTA
    assert [c.id for c in inc.comentarios] == ["k-0", "n-1", "k-2"]


def test_duplicate_delivery_reports_no_change():
    inc, _ = aplicar_snapshot(None, SNAPS[2], conservar_internas=True)
    again, changed = aplicar_snapshot(inc, SNAPS[2], conservar_internas=True)
    assert changed is False and again == inc


def test_stale_snapshot_without_news_reports_no_change():
    inc = aplicar_todos(SNAPS, conservar_internas=True)
    _, changed = aplicar_snapshot(inc, SNAPS[1], conservar_internas=True)
    assert changed is False


def test_local_replica_is_never_modified():
    local = Incidencia.from_snapshot(SNAPS[1])
    before = local.to_snapshot(incluir_internas=True)
    aplicar_snapshot(local, SNAPS[4], conservar_internas=True)
    stale = copy.deepcopy(SNAPS[0])
    stale["comentarios"].append(comentario("k-9", 9))
    aplicar_snapshot(local, stale, conservar_internas=True)
    assert local.to_snapshot(incluir_internas=True) == before


def test_result_shares_no_mutable_state_with_the_snapshot():
    snap = copy.deepcopy(SNAPS[2])
    inc, _ = aplicar_snapshot(None, snap, conservar_internas=True)
    snap["historial"][1]["cambios"]["asignada_a"]["a"]["nombre"] = "X"
    assert inc.historial[1].cambios["asignada_a"]["a"]["nombre"] == "Eva"


def test_snapshot_of_another_incident_is_refused():
    local = Incidencia.from_snapshot(SNAPS[0])
    other = dict(SNAPS[1], id="i-2")
    with pytest.raises(ValueError):
        aplicar_snapshot(local, other, conservar_internas=True)


def test_malformed_snapshot_is_refused():
    with pytest.raises(ValueError):
        aplicar_snapshot(None, {"id": "i-1", "version": 2}, conservar_internas=True)


def test_snapshot_survives_a_json_trip():
    wire = json.loads(json.dumps(SNAPS[4]))
    inc, _ = aplicar_snapshot(None, wire, conservar_internas=False)
    assert inc.to_snapshot(incluir_internas=False) == SNAPS[4]


# --- internal notes -------------------------------------------------------------------

def test_customer_side_never_stores_internal_notes():
    inc = aplicar_todos(SNAPS, conservar_internas=False)
    assert all(not c.interna for c in inc.comentarios)
    assert [c.id for c in inc.comentarios] == ["k-1", "k-2", "k-3"]
    assert "Cliente habitual" not in json.dumps(inc.to_snapshot(incluir_internas=True))


def test_customer_side_drops_internal_notes_it_somehow_held():
    local = Incidencia.from_snapshot(SNAPS[2])  # carries n-1
    inc, changed = aplicar_snapshot(local, SNAPS[2], conservar_internas=False)
    assert changed is True
    assert [c.id for c in inc.comentarios] == ["k-2"]


def test_employee_side_keeps_internal_notes_across_snapshots_without_them():
    inc = aplicar_todos(SNAPS, conservar_internas=True)
    assert [c.id for c in inc.comentarios] == ["k-1", "n-1", "k-2", "k-3"]
    assert inc.estado is Estado.CERRADA


# --- anonymisation ---------------------------------------------------------------------

def test_anonymisation_is_sticky_against_newer_snapshots():
    local = Incidencia.from_snapshot(SNAPS[0])
    local.comentar("k-1", CLIENTE_ACTOR, "Es urgente", False, at(1))
    local.anonimizar_cliente()
    inc, _ = aplicar_snapshot(local, SNAPS[4], conservar_internas=False)
    assert inc.version == 5
    assert inc.cliente.nombre == NOMBRE_ANONIMO and inc.cliente.anonimizado is True
    assert {c.id: c.autor.nombre for c in inc.comentarios} == {
        "k-1": NOMBRE_ANONIMO, "k-2": "Eva", "k-3": NOMBRE_ANONIMO,
    }
    assert "Ana Pérez" not in json.dumps(inc.to_snapshot(incluir_internas=True))


def test_anonymised_older_snapshot_erases_but_changes_no_other_state():
    local = Incidencia.from_snapshot(SNAPS[3])
    inc, changed = aplicar_snapshot(local, anonimizado(SNAPS[1]), conservar_internas=True)
    assert changed is True
    assert inc.cliente.anonimizado is True and inc.version == 4
    snap = inc.to_snapshot(incluir_internas=True)
    state = [k for k in STATE_KEYS if k != "cliente"]
    assert {k: snap[k] for k in state} == {k: SNAPS[3][k] for k in state}


def test_comment_merge_into_anonymised_replica_stays_anonymous():
    local = Incidencia.from_snapshot(SNAPS[0])
    local.anonimizar_cliente()
    fusionar_comentarios(local, [comentario("k-1", 1, autor=CLIENTE_ACTOR)], conservar_internas=False)
    assert local.comentarios[0].autor.nombre == NOMBRE_ANONIMO


# --- fusionar_comentarios ---------------------------------------------------------------

def test_fusionar_comentarios_is_an_ordered_idempotent_union():
    inc = Incidencia.from_snapshot(SNAPS[0])
    nuevos = [comentario("b", 5), comentario("a", 5), comentario("z", 1)]
    assert fusionar_comentarios(inc, nuevos, conservar_internas=True) is True
    assert [c.id for c in inc.comentarios] == ["z", "a", "b"]
    version = inc.version
    assert fusionar_comentarios(inc, reversed(nuevos), conservar_internas=True) is False
    assert [c.id for c in inc.comentarios] == ["z", "a", "b"] and inc.version == version


def test_fusionar_comentarios_keeps_the_first_copy_of_an_id():
    inc = Incidencia.from_snapshot(SNAPS[0])
    fusionar_comentarios(inc, [comentario("a", 1)], conservar_internas=True)
    altered = dict(comentario("a", 1), texto="otro")
    assert fusionar_comentarios(inc, [altered], conservar_internas=True) is False
    assert inc.comentarios[0].texto == "texto a"


def test_fusionar_comentarios_accepts_value_objects_and_filters_internal():
    inc = Incidencia.from_snapshot(SNAPS[0])
    nota = Comentario.of(comentario("n", 2, interna=True))
    assert fusionar_comentarios(inc, [nota], conservar_internas=False) is False
    assert inc.comentarios == []
    assert fusionar_comentarios(inc, [nota], conservar_internas=True) is True
    assert inc.comentarios == [nota]


def test_fusionar_comentarios_works_on_final_incidents():
    inc = Incidencia.from_snapshot(SNAPS[4])
    assert inc.es_final
    assert fusionar_comentarios(inc, [comentario("late", 7)], conservar_internas=False) is True


def test_fusionar_comentarios_rejects_malformed():
    inc = Incidencia.from_snapshot(SNAPS[0])
    with pytest.raises(ValueError):
        fusionar_comentarios(inc, [{"id": "x", "texto": "sin autor"}], conservar_internas=True)
    assert inc.comentarios == []


# --- convergence --------------------------------------------------------------------------

@pytest.mark.parametrize("conservar_internas", [True, False])
def test_every_order_with_duplicates_converges_to_the_highest_version(conservar_internas):
    # Five snapshots plus duplicates of two of them: 7!/(2!2!) distinct orders.
    entregas = SNAPS + [SNAPS[4], SNAPS[1]]
    highest, _ = aplicar_snapshot(None, SNAPS[4], conservar_internas=conservar_internas)
    expected = esperado(entregas, conservar_internas=conservar_internas)
    seen = set()
    for order in itertools.permutations(range(len(entregas))):
        key = tuple(id(entregas[i]) for i in order)
        if key in seen:
            continue
        seen.add(key)
        inc = aplicar_todos([entregas[i] for i in order], conservar_internas=conservar_internas)
        assert inc.to_snapshot(incluir_internas=True) == expected
        if not conservar_internas:
            # v5 carries every public comment: the same as applying it alone.
            assert inc == highest
    assert len(seen) == 1260


def test_prefixes_converge_too():
    for cut in range(1, len(SNAPS) + 1):
        for order in itertools.permutations(SNAPS[:cut]):
            inc = aplicar_todos(order, conservar_internas=True)
            assert inc.to_snapshot(incluir_internas=True) == esperado(order, conservar_internas=True)


POOL = SNAPS + [anonimizado(SNAPS[2])]


@settings(max_examples=300, deadline=None)
@given(
    entregas=st.lists(st.sampled_from(POOL), min_size=1, max_size=10),
    conservar_internas=st.booleans(),
    data=st.data(),
)
def test_any_delivery_sequence_converges(entregas, conservar_internas, data):
    inc = aplicar_todos(entregas, conservar_internas=conservar_internas)
    expected = esperado(entregas, conservar_internas=conservar_internas)
    assert inc.to_snapshot(incluir_internas=True) == expected
    shuffled = data.draw(st.permutations(entregas))
    other = aplicar_todos(shuffled, conservar_internas=conservar_internas)
    assert other == inc
    # Re-delivering everything once more changes nothing.
    for snap in entregas:
        inc, changed = aplicar_snapshot(inc, snap, conservar_internas=conservar_internas)
        assert changed is False
    assert inc.to_snapshot(incluir_internas=True) == expected


def test_tags_are_the_local_replicas_own_whatever_a_snapshot_carries():
    local = Incidencia.from_snapshot(SNAPS[1])
    local.etiquetar("Rotura en transporte")
    local.etiquetar("vip")
    assert local.etiquetas == ["rotura-en-transporte", "vip"]
    newer = {**SNAPS[4], "etiquetas": ["otra"]}  # a newer version from the other side
    merged, changed = aplicar_snapshot(local, newer, conservar_internas=True)
    assert changed and merged.version == SNAPS[4]["version"] and merged.etiquetas == ["rotura-en-transporte", "vip"]
    older, _ = aplicar_snapshot(merged, SNAPS[0], conservar_internas=True)
    assert older.etiquetas == merged.etiquetas
    fresh, _ = aplicar_snapshot(None, newer, conservar_internas=True)
    assert fresh.etiquetas == []
    # Never in what the customer's side is sent.
    assert "etiquetas" not in merged.to_snapshot(incluir_internas=False)
    assert merged.to_snapshot(incluir_internas=True)["etiquetas"] == ["rotura-en-transporte", "vip"]
