"""The incident services' repositories against every storage adapter.

Runs on the ``store`` fixture (tests/conftest.py): SQLite, the MongoDB adapter
on mongomock, the in-memory adapter, and a real MongoDB whenever ``MONGO_URL``
is set. Nothing else is faked: a concurrent writer is simulated by writing the
same document from inside the change callback, which is exactly the window
optimistic concurrency has to cover.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from common.mail import Mail
from common.messaging import Event, make_event
from common.storage import DuplicateKeyError
from common.storage.retry import NotFound, TooMuchContention
from incidencias_apertura import events as a_events
from incidencias_apertura.repository import INCIDENCIAS as A_INCIDENCIAS
from incidencias_apertura.repository import NOTIFICACIONES as A_NOTIFICACIONES
from incidencias_apertura.repository import ClienteReplica, DatosApertura, NotificacionRepository
from incidencias_apertura.repository import IncidenciaRepository as AperturaRepository
from incidencias_dominio import (
    APERTURA,
    NOMBRE_ANONIMO,
    RESOLUCION,
    SISTEMA,
    Actor,
    ConflictoDeEstado,
    EmpleadoRef,
    Estado,
    Incidencia,
)
from incidencias_replica.repository import IncidenciaNoEncontrada
from incidencias_resolucion import events as r_events
from incidencias_resolucion.repository import INCIDENCIAS as R_INCIDENCIAS
from incidencias_resolucion.repository import ParkedEvents, empleado_replica
from incidencias_resolucion.repository import IncidenciaRepository as ResolucionRepository

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc)
EVA = EmpleadoRef("e1", "Eva Soporte")
EVA_ACTOR = Actor("e1", "agente", "Eva Soporte")
# Both services keep their incidents in a collection named ``incidencias``: one outbox.
pytestmark = pytest.mark.outbox(A_INCIDENCIAS, R_INCIDENCIAS)


def incidencia(n: int = 1, cliente: str = "c1", prioridad: str = "media", categoria: str | None = None,
               minutes: int | None = None) -> Incidencia:
    return Incidencia.abrir(
        f"i{n:03d}", {"id": cliente, "nombre": "Ana Pérez"}, {"referencia": "RAD-1", "nombre": "Radio"},
        f"Incidencia {n}", "No va", categoria, prioridad, T0 + timedelta(minutes=n if minutes is None else minutes))


def assigned(inc: Incidencia, at_minutes: int = 30, empleado: EmpleadoRef = EVA) -> str:
    return inc.asignar(RESOLUCION, empleado, SISTEMA, T0 + timedelta(minutes=at_minutes))


def pending(store) -> list[Event]:
    return [Event.parse(m.body) for m in store.pending_events(10_000)]


def clear(store) -> None:
    store.mark_published(m.id for m in store.pending_events(10_000))


@pytest.fixture
def a_repo(store):
    return AperturaRepository(store)


@pytest.fixture
def r_repo(store):
    return ResolucionRepository(store)


# --- apertura: add / get / idempotency ------------------------------------------------------

def test_apertura_add_then_get_round_trips_with_its_event(store, a_repo):
    inc = incidencia()
    event = a_events.snapshot("incidencia.abierta", inc)
    a_repo.add(inc, DatosApertura(idempotency_key="k1", idempotency_hash="h1"), event)
    loaded, extras = a_repo.get(inc.id)
    assert loaded == inc
    assert extras == DatosApertura(idempotency_key="k1", idempotency_hash="h1", cancelacion_solicitada_en=None)
    assert [e.id for e in pending(store)] == [event.id]
    assert pending(store)[0].datos["incidencia"] == inc.to_snapshot(False)
    assert a_repo.get("nope") is None


def test_apertura_never_stores_internal_notes(a_repo):
    inc = incidencia()
    inc.comentar("n1", EVA_ACTOR, "SECRETO", True, T0)
    inc.comentar("p1", EVA_ACTOR, "Hola", False, T0)
    a_repo.add(inc, DatosApertura())
    assert "SECRETO" not in json.dumps(a_repo.collection.get(inc.id))
    assert [c.id for c in a_repo.get(inc.id)[0].comentarios] == ["p1"]


def test_idempotency_key_lookup_and_uniqueness_per_customer(store, a_repo):
    first = incidencia(1)
    a_repo.add(first, DatosApertura(idempotency_key="k", idempotency_hash="h"), a_events.snapshot("incidencia.abierta", first))
    clear(store)
    duplicate = incidencia(2)
    with pytest.raises(DuplicateKeyError) as info:
        a_repo.add(duplicate, DatosApertura(idempotency_key="k", idempotency_hash="h2"),
                   a_events.snapshot("incidencia.abierta", duplicate))
    assert info.value.fields == ("cliente.id", "idempotency_key")
    assert a_repo.get(duplicate.id) is None and pending(store) == []  # no event without its write
    found, extras = a_repo.by_idempotency_key("c1", "k")
    assert found.id == first.id and extras.idempotency_hash == "h"
    assert a_repo.by_idempotency_key("c2", "k") is None
    assert a_repo.by_idempotency_key("c1", "otra") is None
    # Another customer may use the same key; no key at all never collides.
    a_repo.add(incidencia(3, cliente="c2"), DatosApertura(idempotency_key="k"))
    a_repo.add(incidencia(4), DatosApertura())
    a_repo.add(incidencia(5), DatosApertura(idempotency_key=None))
    assert a_repo.count_of_cliente("c1") == 3 and a_repo.count_of_cliente("c2") == 1


def test_a_key_that_looks_like_an_operator_is_only_a_string(a_repo):
    a_repo.add(incidencia(1), DatosApertura(idempotency_key="k"))
    assert a_repo.by_idempotency_key("c1", '{"$ne": null}') is None
    with pytest.raises(TypeError):
        a_repo.by_idempotency_key("c1", {"$ne": None})


# --- update, both services --------------------------------------------------------------------

def _seed(repo, store, inc: Incidencia) -> None:
    if isinstance(repo, AperturaRepository):
        repo.add(inc, DatosApertura())
    else:
        repo.apply_snapshot(inc.to_snapshot(False))
    clear(store)


def _update(repo, incidencia_id, change) -> Incidencia:
    """Call ``update`` with a change of the incident alone; its side fields stay."""
    return repo.update(incidencia_id, lambda i, _side: change(i))[0]


def _get(repo, incidencia_id) -> Incidencia | None:
    found = repo.get(incidencia_id)
    return found[0] if found else None


@pytest.fixture(params=["apertura", "resolucion"])
def repo(request, store):
    return AperturaRepository(store) if request.param == "apertura" else ResolucionRepository(store)


def test_update_stores_the_change_with_its_events(store, repo):
    inc = incidencia()
    _seed(repo, store, inc)
    sent = []

    def change(i):
        sent.append(r_events.snapshot(assigned(i), i))
        return sent

    result = _update(repo, inc.id, change)
    assert result.estado == Estado.ASIGNADA and result.version == 2
    stored = _get(repo, inc.id)
    assert stored.estado == Estado.ASIGNADA and stored.asignada_a == EVA and stored.version == 2
    assert [e.id for e in pending(store)] == [sent[0].id]
    assert repo.collection.get(inc.id)["_rev"] == 2


def test_update_returning_none_writes_nothing(store, repo):
    inc = incidencia()
    _seed(repo, store, inc)
    before = repo.collection.get(inc.id)

    def change(i):
        assigned(i)  # changed in memory, but the change says: write nothing
        return None

    _update(repo, inc.id, change)
    assert repo.collection.get(inc.id) == before and pending(store) == []


def test_a_refused_change_writes_nothing(store, repo):
    inc = incidencia()
    _seed(repo, store, inc)
    before = repo.collection.get(inc.id)
    with pytest.raises(ConflictoDeEstado):
        _update(repo, inc.id, lambda i: [r_events.snapshot(i.iniciar(RESOLUCION, EVA_ACTOR, T0), i)])
    assert repo.collection.get(inc.id) == before and pending(store) == []


def test_update_of_an_unknown_incident_is_not_found(store, repo):
    with pytest.raises(IncidenciaNoEncontrada):
        _update(repo, "nope", lambda i: [])
    assert pending(store) == []


def test_a_concurrent_write_makes_update_reload_and_reapply(store, repo):
    inc = incidencia()
    _seed(repo, store, inc)
    calls = []

    def change(i):
        calls.append(i.version)
        if len(calls) == 1:
            # Someone else writes the same incident (a comment and a data
            # change) between our read and our write.
            def other(j):
                j.comentar("otro", EVA_ACTOR, "Escrito en medio", False, T0 + timedelta(minutes=5))
                return [r_events.snapshot(j.cambiar_datos(RESOLUCION, "alta", por=EVA_ACTOR,
                                                          en=T0 + timedelta(minutes=5)), j)]
            _update(repo, inc.id, other)
        return [r_events.snapshot(assigned(i), i)]

    result = _update(repo, inc.id, change)
    assert calls == [1, 2]  # applied again on the version the other writer left
    stored = _get(repo, inc.id)
    assert stored == result
    assert stored.version == 3 and stored.estado == Estado.ASIGNADA and stored.prioridad.value == "alta"
    assert [c.id for c in stored.comentarios] == ["otro"]
    # The other writer's event and ours, once each; none from the discarded first attempt.
    assert [(e.tipo, e.datos["incidencia"]["version"]) for e in pending(store)] == [
        ("incidencia.actualizada", 2), ("incidencia.asignada", 3)]


def test_endless_contention_gives_up_without_writing(store, repo):
    inc = incidencia()
    _seed(repo, store, inc)

    def change(i):
        _update(repo, inc.id, lambda j: (j.comentar(f"c{len(j.comentarios)}", EVA_ACTOR, "x", False, T0), [])[1])
        return [r_events.snapshot(assigned(i), i)]

    with pytest.raises(TooMuchContention):
        _update(repo, inc.id, change)
    stored = _get(repo, inc.id)
    assert stored.estado == Estado.ABIERTA and stored.version == 1
    assert pending(store) == []


def test_apertura_update_sees_and_keeps_its_extras(store, a_repo):
    inc = incidencia()
    a_repo.add(inc, DatosApertura(idempotency_key="k", idempotency_hash="h"))

    def change(i, extras):
        assert extras.idempotency_key == "k"
        extras.cancelacion_solicitada_en = "2026-11-01T11:00:00.000000Z"
        return [a_events.cancelacion_solicitada(i, None, T0)]

    a_repo.update(inc.id, change)
    _, extras = a_repo.get(inc.id)
    assert extras == DatosApertura(idempotency_key="k", idempotency_hash="h",
                                   cancelacion_solicitada_en="2026-11-01T11:00:00.000000Z")
    assert a_repo.by_idempotency_key("c1", "k")[0].id == inc.id


def test_resolucion_keeps_internal_notes_across_updates(store, r_repo):
    inc = incidencia()
    _seed(r_repo, store, inc)
    r_repo.update(inc.id, lambda i, _s: (i.comentar("n1", EVA_ACTOR, "SECRETO", True, T0), [])[1])
    r_repo.update(inc.id, lambda i, _s: [r_events.snapshot(assigned(i), i)])
    stored = r_repo.get(inc.id)[0]
    assert [(c.id, c.interna) for c in stored.comentarios] == [("n1", True)]
    assert all("SECRETO" not in m.body for m in store.pending_events(10_000))


# --- apply_snapshot, both services --------------------------------------------------------------

def test_apply_snapshot_inserts_then_newer_wins_and_older_is_ignored(repo):
    inc = incidencia()
    v1 = inc.to_snapshot(False)
    merged, changed = repo.apply_snapshot(v1)
    assert changed and merged == inc and _get(repo, inc.id) == inc
    assigned(inc)
    v2 = inc.to_snapshot(False)
    inc.iniciar(RESOLUCION, EVA_ACTOR, T0 + timedelta(minutes=40))
    v3 = inc.to_snapshot(False)
    assert repo.apply_snapshot(v3)[1] is True
    rev = repo.collection.get(inc.id)["_rev"]
    for stale in (v2, v1, v3):  # older, oldest, the same again
        merged, changed = repo.apply_snapshot(stale)
        assert changed is False and merged.version == 3 and merged.estado == Estado.EN_CURSO
    assert repo.collection.get(inc.id)["_rev"] == rev  # nothing written
    assert _get(repo, inc.id).to_snapshot(False) == v3


def test_apply_snapshot_merges_comments_whatever_the_version(repo):
    inc = incidencia()
    repo.apply_snapshot(inc.to_snapshot(False))
    old = Incidencia.from_snapshot(inc.to_snapshot(False))
    old.comentar("c-old", Actor("c1", "cliente", "Ana"), "Primero", False, T0 + timedelta(minutes=2))
    assigned(inc)
    inc.comentar("c-new", EVA_ACTOR, "Segundo", False, T0 + timedelta(minutes=3))
    assert repo.apply_snapshot(inc.to_snapshot(False))[1] is True
    merged, changed = repo.apply_snapshot(old.to_snapshot(False))  # older version, new comment
    assert changed is True and merged.version == 2
    stored = _get(repo, inc.id)
    assert [c.id for c in stored.comentarios] == ["c-old", "c-new"] and stored.estado == Estado.ASIGNADA
    assert repo.apply_snapshot(old.to_snapshot(False))[1] is False  # idempotent


def test_apply_snapshot_keeps_the_customer_anonymised(repo):
    inc = incidencia()
    repo.apply_snapshot(inc.to_snapshot(False))
    _update(repo, inc.id, lambda i: [] if i.anonimizar_cliente() else None)
    assigned(inc)  # a newer snapshot that still carries the name
    repo.apply_snapshot(inc.to_snapshot(False))
    stored = _get(repo, inc.id)
    assert stored.version == 2 and stored.cliente.nombre == NOMBRE_ANONIMO and stored.cliente.anonimizado


def test_apertura_apply_snapshot_drops_internal_notes_and_keeps_extras(a_repo):
    inc = incidencia()
    a_repo.add(inc, DatosApertura(idempotency_key="k", idempotency_hash="h"))
    inc.comentar("n1", EVA_ACTOR, "SECRETO", True, T0)
    assigned(inc)
    a_repo.apply_snapshot(inc.to_snapshot(True))  # even if a snapshot carried one
    assert "SECRETO" not in json.dumps(a_repo.collection.get(inc.id))
    loaded, extras = a_repo.get(inc.id)
    assert loaded.version == 2 and loaded.comentarios == []
    assert extras.idempotency_key == "k" and extras.idempotency_hash == "h"
    assert a_repo.by_idempotency_key("c1", "k")[0].version == 2


def test_resolucion_apply_snapshot_keeps_its_internal_notes(r_repo):
    inc = incidencia()
    r_repo.apply_snapshot(inc.to_snapshot(False))
    r_repo.update(inc.id, lambda i, _s: (i.comentar("n1", EVA_ACTOR, "SECRETO", True, T0), [])[1])
    assigned(inc)
    inc.resolver(RESOLUCION, "Hecho", EVA_ACTOR, T0 + timedelta(minutes=50))
    inc.cerrar(APERTURA, Actor("c1", "cliente"), T0 + timedelta(minutes=60))
    r_repo.apply_snapshot(inc.to_snapshot(False))  # from apertura: no internal notes in it
    stored = r_repo.get(inc.id)[0]
    assert stored.estado == Estado.CERRADA and [c.id for c in stored.comentarios] == ["n1"]


# --- listing: apertura ------------------------------------------------------------------------------

def test_apertura_lists_a_customers_incidents_newest_first(a_repo):
    for n in (3, 1, 5, 2, 4):
        a_repo.add(incidencia(n), DatosApertura())
    a_repo.add(incidencia(6, cliente="c2"), DatosApertura())
    a_repo.update("i002", lambda i, _e: [a_events.snapshot(assigned(i), i)])
    a_repo.update("i004", lambda i, _e: [a_events.snapshot(assigned(i), i)])
    assert a_repo.count_of_cliente("c1") == 5 and a_repo.count_of_cliente("c2") == 1
    assert [i.id for i in a_repo.list_of_cliente("c1", None, 0, 10)] == ["i005", "i004", "i003", "i002", "i001"]
    pages = [[i.id for i in a_repo.list_of_cliente("c1", None, skip, 2)] for skip in (0, 2, 4)]
    assert pages == [["i005", "i004"], ["i003", "i002"], ["i001"]]
    assert a_repo.count_of_cliente("c1", "asignada") == 2
    assert [i.id for i in a_repo.list_of_cliente("c1", "asignada", 0, 10)] == ["i004", "i002"]
    assert a_repo.count_of_cliente("c1", "cerrada") == 0
    assert a_repo.count_of_cliente("nadie") == 0


def test_apertura_final_and_not_final_and_resolved_before(a_repo):
    for n in range(1, 6):
        a_repo.add(incidencia(n), DatosApertura())
    a_repo.add(incidencia(9, cliente="c2"), DatosApertura())

    def resolve(minutes):
        def change(i, _e):
            assigned(i, at_minutes=10)
            return [a_events.snapshot(i.resolver(RESOLUCION, "x", EVA_ACTOR, T0 + timedelta(minutes=minutes)), i)]
        return change

    a_repo.update("i001", resolve(50))
    a_repo.update("i002", resolve(20))
    a_repo.update("i003", resolve(40))
    a_repo.update("i003", lambda i, _e: [a_events.snapshot(i.cerrar(APERTURA, SISTEMA, T0 + timedelta(hours=1)), i)])
    a_repo.update("i004", lambda i, _e: [a_events.snapshot(i.cancelar(RESOLUCION, SISTEMA, T0), i)])
    assert sorted(a_repo.not_final_of_cliente("c1")) == ["i001", "i002", "i005"]
    assert sorted(a_repo.final_of_cliente("c1")) == ["i003", "i004"]
    assert a_repo.not_final_of_cliente("c2") == ["i009"] and a_repo.final_of_cliente("c2") == []
    cutoff = (T0 + timedelta(minutes=45)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert a_repo.resolved_before(cutoff) == ["i002"]  # i003 resolved earlier but is closed now
    late = (T0 + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert a_repo.resolved_before(late) == ["i002", "i001"]  # oldest resolution first
    assert a_repo.resolved_before(late, limit=1) == ["i002"]


# --- listing: resolucion ----------------------------------------------------------------------------

@pytest.fixture
def worked(r_repo):
    """i001 media/sonido assigned to e1, i002 critica unassigned, i003 alta/sonido en_curso by e2,
    i004 baja of c2 unassigned, i005 alta resuelta by e1, i006 media cancelada (e2)."""
    specs = [(1, "c1", "media", "sonido"), (2, "c1", "critica", None), (3, "c1", "alta", "sonido"),
             (4, "c2", "baja", "pantalla"), (5, "c1", "alta", None), (6, "c2", "media", None)]
    for n, cliente, prioridad, categoria in specs:
        r_repo.apply_snapshot(incidencia(n, cliente, prioridad, categoria).to_snapshot(False))
    luis = EmpleadoRef("e2", "Luis")
    r_repo.update("i001", lambda i, _s: [r_events.snapshot(assigned(i), i)])
    r_repo.update("i003", lambda i, _s: [r_events.snapshot(assigned(i, empleado=luis), i)])
    r_repo.update("i003", lambda i, _s: [r_events.snapshot(i.iniciar(RESOLUCION, EVA_ACTOR, T0), i)])
    r_repo.update("i005", lambda i, _s: [r_events.snapshot(assigned(i), i)])
    r_repo.update("i005", lambda i, _s: [r_events.snapshot(i.resolver(RESOLUCION, "x", EVA_ACTOR, T0), i)])
    r_repo.update("i006", lambda i, _s: [r_events.snapshot(assigned(i, empleado=luis), i)])
    r_repo.update("i006", lambda i, _s: [r_events.snapshot(i.cancelar(RESOLUCION, SISTEMA, T0), i)])
    return r_repo


@pytest.mark.parametrize("filters, expected", [
    ({}, ["i001", "i002", "i003", "i004", "i005", "i006"]),
    ({"estado": "asignada"}, ["i001"]),
    ({"estado": "en_curso"}, ["i003"]),
    ({"prioridad": "alta"}, ["i003", "i005"]),
    ({"categoria": "sonido"}, ["i001", "i003"]),
    ({"asignada_a": "e1"}, ["i001", "i005"]),
    ({"asignada_a": "e2", "estado": "en_curso"}, ["i003"]),
    ({"sin_asignar": True}, ["i002", "i004"]),
    ({"sin_asignar": True, "cliente_id": "c2"}, ["i004"]),
    ({"cliente_id": "c2"}, ["i004", "i006"]),
    ({"estados": ["abierta", "reabierta"]}, ["i002", "i004"]),
    ({"asignada_a": "nadie"}, []),
    ({"estado": None, "prioridad": "", "sin_asignar": False}, ["i001", "i002", "i003", "i004", "i005", "i006"]),
])
def test_resolucion_filters(worked, filters, expected):
    assert worked.count(filters) == len(expected)
    assert [i.id for i in worked.list(filters, "antiguedad", 0, 100)] == expected
    assert worked.ids(filters) == expected


def test_resolucion_sorts_and_pages(worked):
    assert [i.id for i in worked.list({}, "recientes", 0, 100)] == ["i006", "i005", "i004", "i003", "i002", "i001"]
    # Most urgent first, the oldest first among equals.
    assert [i.id for i in worked.list({}, "prioridad", 0, 100)] == ["i002", "i003", "i005", "i001", "i006", "i004"]
    pages = [[i.id for i in worked.list({}, "prioridad", skip, 4)] for skip in (0, 4, 8)]
    assert pages == [["i002", "i003", "i005", "i001"], ["i006", "i004"], []]
    assert worked.ids({}, limit=2) == ["i001", "i002"]
    assert [i.id for i in worked.recent(3)] == ["i006", "i005", "i004"]


def test_a_data_change_moves_the_priority_order(worked):
    worked.update("i004", lambda i, _s: [r_events.snapshot(
        i.cambiar_datos(RESOLUCION, "critica", por=EVA_ACTOR, en=T0), i)])
    assert [i.id for i in worked.list({}, "prioridad", 0, 2)] == ["i002", "i004"]
    assert worked.count({"prioridad": "critica"}) == 2


def test_resolucion_load_counts_open_work_only(worked):
    assert worked.load_of(["e1", "e2", "e3"]) == {"e1": 1, "e2": 1, "e3": 0}
    assert worked.load_of([]) == {}


# --- employee replica (resolucion) --------------------------------------------------------------------

def empleado(empleado_id="e1", **extra):
    return {"id": empleado_id, "nombre": "Eva", "apellidos": "Soporte", "rol": "agente", "categorias": [],
            "activo": True, **extra}


def test_employee_upsert_applies_only_newer_events(store):
    replica = empleado_replica(store)
    assert replica.upsert(empleado(), "000000000002|2026-11-01T10:00:00Z|0|a") is True
    assert replica.get("e1")["nombre"] == "Eva"
    # Older and equal keys change nothing.
    assert replica.upsert(empleado(nombre="Antigua"), "000000000001|2026-11-02T10:00:00Z|0|b") is False
    assert replica.upsert(empleado(nombre="Igual"), "000000000002|2026-11-01T10:00:00Z|0|a") is False
    assert replica.get("e1")["nombre"] == "Eva"
    # A newer one replaces the fields it carries.
    assert replica.upsert(empleado(activo=False, categorias=["envios"]), "000000000003|2026-11-01T09:00:00Z|1|c")
    stored = replica.get("e1")
    assert stored["activo"] is False and stored["categorias"] == ["envios"]
    assert stored["version_key"] == "000000000003|2026-11-01T09:00:00Z|1|c"
    assert replica.get("e9") is None


def test_employee_replica_active_and_inactive(store):
    replica = empleado_replica(store)
    replica.upsert(empleado("e1"), "1")
    replica.upsert(empleado("e2", rol="supervisor"), "1")
    replica.upsert(empleado("e3", activo=False), "1")
    replica.upsert(empleado("a1", rol="admin"), "1")
    assert sorted(e["id"] for e in replica.active()) == ["a1", "e1", "e2"]
    assert all(e["activo"] for e in replica.active())
    assert replica.inactive_ids() == ["e3"]
    replica.upsert(empleado("e1", activo=False), "2")
    assert sorted(replica.inactive_ids()) == ["e1", "e3"]


# --- notifications (apertura) -------------------------------------------------------------------------

def notification(n: int, cliente: str = "c1", leida: bool = False) -> dict:
    return {"id": f"n{n}", "cliente_id": cliente, "incidencia_id": "i001", "tipo": "incidencia.asignada",
            "mensaje": f"Mensaje {n}", "creada_en": f"2026-11-01T10:0{n}:00.000000Z", "leida": leida}


def test_notifications_add_list_and_count(store):
    notes = NotificacionRepository(store)
    for n in (1, 3, 2):
        assert notes.add(notification(n)) is True
    assert notes.add(notification(1)) is False  # the same event twice
    notes.add(notification(4, cliente="c2"))
    assert [n["id"] for n in notes.list("c1", False, 0, 10)] == ["n3", "n2", "n1"]
    assert [n["id"] for n in notes.list("c1", False, 1, 1)] == ["n2"]
    assert notes.count("c1") == 3 and notes.count("c2") == 1 and notes.count("c3") == 0


def test_notifications_mark_read(store):
    notes = NotificacionRepository(store)
    for n in (1, 2, 3):
        notes.add(notification(n))
    notes.add(notification(4, cliente="c2"))
    assert notes.mark_read("c1", "n2")["leida"] is True
    assert notes.mark_read("c1", "n2")["leida"] is True
    assert notes.count("c1", solo_no_leidas=True) == 2
    assert [n["id"] for n in notes.list("c1", True, 0, 10)] == ["n3", "n1"]
    with pytest.raises(NotFound):
        notes.mark_read("c1", "n4")  # another customer's
    with pytest.raises(NotFound):
        notes.mark_read("c1", "nope")
    assert notes.list("c2", True, 0, 10)[0]["leida"] is False
    assert notes.mark_all_read("c1") == 2 and notes.mark_all_read("c1") == 0
    assert notes.count("c1", True) == 0 and notes.count("c2", True) == 1
    assert store.pending_events() == []  # notifications publish nothing


def test_notifications_deleted_with_the_customer(store):
    notes = NotificacionRepository(store)
    for n in (1, 2):
        notes.add(notification(n))
    notes.add(notification(3, cliente="c2"))
    notes.delete_of_cliente("c1")
    assert notes.count("c1") == 0 and notes.count("c2") == 1


def _mail(n: int) -> Mail:
    return Mail(f"cliente{n}@example.com", f"Asunto {n}", f"Texto {n}", f"<p>Texto {n}</p>")


@pytest.mark.outbox(A_NOTIFICACIONES)
def test_a_notification_is_stored_with_its_mail_and_only_once(store):
    notes = NotificacionRepository(store)
    assert notes.add(notification(1), _mail(1)) is True
    assert notes.add(notification(2)) is True  # no mail: the notification alone
    again = {**notification(9), "clave": "i001:incidencia.asignada:v2"}
    assert notes.add({**notification(3), "clave": "i001:incidencia.asignada:v2"}, _mail(3)) is True
    assert notes.add(again, _mail(9)) is False  # the same news under another id: no second mail either
    due = store.due_mails("2999-01-01T00:00:00Z", 100)
    assert [(m.id, m.recipient, Mail.from_json(m.body)) for m in due] == [("n1", "c1", _mail(1)),
                                                                        ("n3", "c1", _mail(3))]
    assert notes.count("c1") == 3 and store.pending_events() == []


@pytest.mark.outbox(A_NOTIFICACIONES)
def test_erasing_the_customer_deletes_their_notifications_and_every_mail_for_them(store):
    notes = NotificacionRepository(store)
    notes.add(notification(1), _mail(1))
    notes.add(notification(2, cliente="c2"), _mail(2))
    notes.delete_of_cliente("c1")
    assert [m.id for m in store.due_mails("2999-01-01T00:00:00Z", 100)] == ["n2"]
    assert notes.count("c1") == 0 and notes.count("c2") == 1


# --- customer replica (apertura) ----------------------------------------------------------------------

def test_customer_erasure_is_final(store):
    clientes = ClienteReplica(store)
    assert clientes.is_deleted("c1") is False
    clientes.upsert({"id": "c1", "nombre": "Ana", "eliminado": False}, "1")
    assert clientes.is_deleted("c1") is False
    clientes.upsert({"id": "c1", "nombre": None, "eliminado": True}, "2")
    clientes.upsert({"id": "c1", "nombre": "Ana", "eliminado": False}, "3")  # arrives late
    assert clientes.is_deleted("c1") is True
    clientes.upsert({"id": "c2", "nombre": None, "eliminado": True}, "1")  # never seen before
    assert clientes.is_deleted("c2") is True


def test_customer_replica_keeps_the_newest_event_and_erasure_removes_the_contact(store):
    clientes = ClienteReplica(store)
    ana = {"id": "c1", "nombre": "Ana", "apellidos": "Pérez", "eliminado": False, "avisos_por_correo": True,
           "sesiones_desde": None}
    clientes.upsert({**ana, "email": "ana@example.com"}, "000000000002|b")
    clientes.upsert({**ana, "email": "vieja@example.com"}, "000000000001|a")  # older, late: ignored
    clientes.upsert({**ana, "email": "vieja@example.com"}, "000000000002|b")  # the same again: ignored
    assert clientes.get("c1")["email"] == "ana@example.com"
    clientes.upsert({**ana, "email": "nueva@example.com", "avisos_por_correo": False}, "000000000003|c")
    assert {k: clientes.get("c1")[k] for k in ("email", "avisos_por_correo")} == {
        "email": "nueva@example.com", "avisos_por_correo": False}
    clientes.erase("c1")
    erased = {k: v for k, v in clientes.get("c1").items() if k != "_rev"}
    assert erased == {"id": "c1", "eliminado": True, "nombre": None, "apellidos": None, "email": None}


# --- parked events (resolucion) -------------------------------------------------------------------------

def test_parked_events(store):
    parked = ParkedEvents(store)
    first = make_event("incidencia.cancelacion_solicitada", {"incidencia_id": "i001", "cliente_id": "c1"},
                       "incidencias_apertura")
    second = make_event("incidencia.comentada", {"incidencia_id": "i001", "comentario": {}}, "incidencias_apertura")
    other = make_event("incidencia.comentada", {"incidencia_id": "i002", "comentario": {}}, "incidencias_apertura")
    for event in (first, second, other, first):  # the same event parked twice is kept once
        parked.park(event.datos["incidencia_id"], event)
    taken = parked.take("i001")
    assert sorted(event_id for event_id, _ in taken) == sorted([first.id, second.id])
    assert {event_id: Event.parse(body) for event_id, body in taken} == {first.id: first, second.id: second}
    assert parked.take("i003") == []
    parked.done(first.id)
    assert [event_id for event_id, _ in parked.take("i001")] == [second.id]
    parked.done(first.id)  # again: harmless
    assert [event_id for event_id, _ in parked.take("i002")] == [other.id]
    assert store.pending_events() == []
