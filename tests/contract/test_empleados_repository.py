"""empleados' repository behaves the same on every store adapter."""
from __future__ import annotations

import json

import pytest

from common.storage import DuplicateKeyError
from empleados import events
from empleados.domain import Empleado
from empleados.repository import EMPLEADOS, ConcurrentUpdate, EmpleadoRepository

pytestmark = pytest.mark.outbox(EMPLEADOS)


def empleado(i: int, rol: str = "agente", **overrides) -> Empleado:
    e = Empleado.nuevo(f"e{i:02d}", f"Nombre{i}", f"Apellido{i}", f"persona{i}@example.com", f"hash-{i}",
                       rol, ["envios"] if i % 2 else [], f"2026-11-{i:02d}T10:00:00.000Z")
    for name, value in overrides.items():
        setattr(e, name, value)
    return e


def outbox(store) -> list[dict]:
    return [{"tipo": m.routing_key, **json.loads(m.body)} for m in store.pending_events(1000)]


@pytest.fixture
def repo(store):
    return EmpleadoRepository(store)


def test_add_stores_the_account_and_its_event_together(repo, store):
    e = empleado(1)
    repo.add(e, events.registrado(e))
    assert e._rev == 1
    loaded = repo.get("e01")
    assert loaded == e and loaded.categorias == ["envios"] and loaded.activo is True
    assert repo.by_email("persona1@example.com") == e
    assert repo.get("nobody") is None and repo.by_email("nobody@example.com") is None
    [message] = outbox(store)
    assert message["tipo"] == "empleado.registrado" and message["datos"]["id"] == "e01"


def test_a_duplicate_email_writes_neither_the_account_nor_its_event(repo, store):
    first = empleado(1)
    repo.add(first, events.registrado(first))
    store.mark_published(m.id for m in store.pending_events())
    clash = empleado(2, email="persona1@example.com")
    with pytest.raises(DuplicateKeyError) as info:
        repo.add(clash, events.registrado(clash))
    assert info.value.fields == ("email",)
    assert repo.get("e02") is None and store.pending_events() == []


def test_save_is_refused_when_someone_else_wrote_first(repo, store):
    e = empleado(1)
    repo.add(e)
    mine, theirs = repo.get("e01"), repo.get("e01")
    theirs.actualizar({"rol": "supervisor"}, "2026-11-20T00:00:00.000Z")
    repo.save(theirs, events.actualizado(theirs))
    mine.actualizar({"nombre": "Otro"}, "2026-11-20T00:00:01.000Z")
    with pytest.raises(ConcurrentUpdate):
        repo.save(mine, events.actualizado(mine))
    stored = repo.get("e01")
    assert stored.rol == "supervisor" and stored.nombre == "Nombre1" and stored._rev == 2
    assert [m["datos"]["rol"] for m in outbox(store)] == ["supervisor"]


def test_baja_is_saved_with_its_event(repo, store):
    e = empleado(1)
    repo.add(e)
    e.dar_de_baja("2026-11-20T00:00:00.000Z")
    repo.save(e, events.baja(e))
    stored = repo.get("e01")
    assert stored.activo is False and stored.baja_en == "2026-11-20T00:00:00.000Z"
    [message] = outbox(store)
    assert message["tipo"] == "empleado.baja" and message["datos"]["activo"] is False


def test_counts_only_active_admins(repo):
    assert repo.active_admins() == 0
    repo.add(empleado(1, rol="admin"))
    repo.add(empleado(2, rol="admin", activo=False))
    repo.add(empleado(3, rol="supervisor"))
    assert repo.active_admins() == 1
    repo.add(empleado(4, rol="admin"))
    assert repo.active_admins() == 2


def test_list_filters_by_role_activity_and_text_newest_first(repo):
    for i, rol, activo in [(1, "agente", True), (2, "agente", False), (3, "supervisor", True),
                           (4, "admin", True), (5, "agente", True)]:
        repo.add(empleado(i, rol=rol, activo=activo))
    ids = lambda found: [e.id for e in found]  # noqa: E731
    assert ids(repo.list()) == ["e05", "e04", "e03", "e02", "e01"]
    assert repo.count() == 5
    assert ids(repo.list(rol="agente")) == ["e05", "e02", "e01"]
    assert ids(repo.list(activo=False)) == ["e02"]
    assert ids(repo.list(rol="agente", activo=True)) == ["e05", "e01"]
    assert repo.count(rol="agente", activo=True) == 2
    assert ids(repo.list(search="APELLIDO3")) == ["e03"]
    assert ids(repo.list(search="persona4@")) == ["e04"]
    assert ids(repo.list(search="nombre")) == ["e05", "e04", "e03", "e02", "e01"]
    assert repo.count(search="zzz") == 0


def test_list_pages_are_stable_and_complete(repo):
    for i in range(1, 8):
        repo.add(empleado(i, creado_en="2026-11-01T10:00:00.000Z"))  # same time: the id breaks ties
    pages = [repo.list(skip=skip, limit=3) for skip in (0, 3, 6)]
    seen = [e.id for page in pages for e in page]
    assert len(seen) == 7 and len(set(seen)) == 7
    assert [e.id for e in repo.list(skip=0, limit=3)] == [e.id for e in pages[0]]


def test_search_text_is_literal_not_a_pattern(repo):
    repo.add(empleado(1))
    repo.add(empleado(2, nombre="50%_off"))
    assert [e.id for e in repo.list(search="%")] == ["e02"]
    assert [e.id for e in repo.list(search="_")] == ["e02"]
    assert repo.count(search=".*") == 0
