"""Every list is read in the order of an index, tie-breaker included: the
database never sorts a page in memory, at 100 documents or at a million.

The sender's read of the mail outbox (``due_mails``) is checked the same way.

Each list is called through its repository, exactly as the services call it;
its queries are recorded on the way to the store and the store's own plan for
each is shown and checked: SQLite's ``EXPLAIN QUERY PLAN`` must not say
``USE TEMP B-TREE`` (a sort), MongoDB's winning plan must have no ``SORT``
stage. Needs an adapter that can explain: SQLite here, and a real MongoDB
whenever ``MONGO_URL`` is set (mongomock cannot explain; the in-memory
adapter has no indexes).
"""
from __future__ import annotations

from typing import Any, Callable

import pytest

from clientes.repository import CLIENTES, ClienteRepository
from common.storage import CollectionSpec, Index, OutboxMail, Query
from cuentas.personal import PERSONAL, PersonalReplica
from empleados.repository import EMPLEADOS, EmpleadoRepository
from incidencias_apertura.repository import INCIDENCIAS as A_INCIDENCIAS
from incidencias_apertura.repository import IncidenciaRepository as AperturaRepository
from incidencias_apertura.repository import NotificacionRepository
from incidencias_resolucion.repository import INCIDENCIAS as R_INCIDENCIAS
from incidencias_resolucion.repository import SORTS
from incidencias_resolucion.repository import IncidenciaRepository as ResolucionRepository

# The shapes of resolucion's list the console asks for: each view (everyone's,
# the caller's, the unassigned), alone or by state, in each order; by category.
RESOLUCION_VIEWS = [{}, {"asignada_a": "e1"}, {"sin_asignar": True}, {"estado": "asignada"},
                    {"asignada_a": "e1", "estado": "en_curso"}]

LISTS: dict[str, Callable[[Any], Any]] = {
    "clientes": lambda store: ClienteRepository(store).list(None, 0, 20),
    "clientes, searched": lambda store: ClienteRepository(store).list("ana", 20, 20),
    "empleados": lambda store: EmpleadoRepository(store).list(skip=0, limit=20),
    "empleados by role": lambda store: EmpleadoRepository(store).list(rol="agente", skip=0, limit=20),
    "empleados active": lambda store: EmpleadoRepository(store).list(activo=True, skip=0, limit=20),
    "empleados by role, active": lambda store: EmpleadoRepository(store).list("agente", True, None, 0, 20),
    "empleados, searched": lambda store: EmpleadoRepository(store).list(None, None, "ana", 0, 20),
    "staff replica, active": lambda store: PersonalReplica(store).active(),
    "apertura: a customer's incidents": lambda store: AperturaRepository(store).list_of_cliente("c1", None, 0, 20),
    "apertura: a customer's incidents by state":
        lambda store: AperturaRepository(store).list_of_cliente("c1", "resuelta", 20, 20),
    "apertura: resolved before": lambda store: AperturaRepository(store).resolved_before("2026-01-01T00:00:00Z"),
    "apertura: notifications": lambda store: NotificacionRepository(store).list("c1", False, 0, 20),
    "apertura: unread notifications": lambda store: NotificacionRepository(store).list("c1", True, 0, 20),
    "resolucion: recent": lambda store: ResolucionRepository(store).recent(50),
    **{f"resolucion: {filters or 'all'} by {orden}":
       (lambda store, filters=filters, orden=orden: ResolucionRepository(store).list(filters, orden, 0, 20))
       for filters in RESOLUCION_VIEWS for orden in SORTS if SORTS[orden]},
    **{f"resolucion: a customer's history by {orden}":
       (lambda store, orden=orden: ResolucionRepository(store).list({"cliente_id": "c1"}, orden, 0, 20))
       for orden in ("antiguedad", "recientes")},
    **{f"resolucion: by tag by {orden}":
       (lambda store, orden=orden: ResolucionRepository(store).list({"etiqueta": "vip"}, orden, 0, 20))
       for orden in SORTS if SORTS[orden]},
    **{f"resolucion: by category by {orden}":
       (lambda store, orden=orden: ResolucionRepository(store).list({"categoria": "envios"}, orden, 0, 20))
       for orden in ("antiguedad", "recientes")},
}

# The collections each list reads, so the plan is asked of the right one.
SPECS = {spec.name: spec for spec in (CLIENTES, EMPLEADOS, PERSONAL, A_INCIDENCIAS, R_INCIDENCIAS)}


def recorded_queries(store, call: Callable[[Any], Any]) -> list[tuple[Any, Query, int, int | None]]:
    """Run ``call(store)`` and return each (collection, query, skip, limit)
    it asked the store to find."""
    seen: list[tuple[Any, Query, int, int | None]] = []
    original = store.collection

    def collection(spec: CollectionSpec):
        opened = original(spec)
        find = opened.find

        def recording(query: Query, skip: int = 0, limit: int | None = None):
            seen.append((opened, query, skip, limit))
            return find(query, skip, limit)

        opened.find = recording
        return opened

    store.collection = collection
    try:
        call(store)
    finally:
        store.collection = original
    assert seen, "the list asked the store for nothing"
    return seen


def stages(plan: Any) -> list[str]:
    """Every ``stage`` named in a MongoDB plan tree."""
    found: list[str] = []
    if isinstance(plan, dict):
        if isinstance(plan.get("stage"), str):
            found.append(plan["stage"])
        for value in plan.values():
            found.extend(stages(value))
    elif isinstance(plan, list):
        for value in plan:
            found.extend(stages(value))
    return found


@pytest.fixture
def explaining_store(store, store_database):
    if store_database.kind == "mongomock":
        pytest.skip("mongomock cannot explain a query; the real MongoDB runs this when MONGO_URL is set")
    if store_database.kind == "memory":
        pytest.skip("the in-memory adapter has no indexes to serve a sort")
    return store


@pytest.mark.parametrize("name", list(LISTS))
def test_every_list_is_read_in_index_order(explaining_store, store_database, name):
    for collection, query, skip, limit in recorded_queries(explaining_store, LISTS[name]):
        plan = collection.explain(query, skip, limit)
        if store_database.kind == "sqlite":
            assert plan and not any("USE TEMP B-TREE" in step for step in plan), (name, query.order, plan)
            assert any(" USING INDEX " in step or "USING COVERING INDEX" in step for step in plan), (name, plan)
        else:
            winning = plan["queryPlanner"]["winningPlan"]
            assert "SORT" not in stages(winning), (name, query.order, winning)
            assert "IXSCAN" in stages(winning), (name, winning)


MAIL_CARRIERS = (CollectionSpec("cartas"), CollectionSpec("avisos"))


@pytest.mark.outbox(*MAIL_CARRIERS)
def test_due_mails_are_read_in_the_order_of_an_index(explaining_store, store_database):
    for n, spec in enumerate(MAIL_CARRIERS):
        for i in range(30):
            explaining_store.collection(spec).insert({"id": f"d{i}"}, [OutboxMail(f"m{n}-{i}", "c1", "{}")])
    now = "2100-01-01T00:00:00Z"
    assert len(explaining_store.due_mails(now, 10)) == 10
    if store_database.kind == "sqlite":
        plan = explaining_store.explain_due_mails(now, 10)
        assert not any("USE TEMP B-TREE" in step for step in plan), plan
        assert any("USING INDEX mail_outbox_due" in step for step in plan), plan
    else:
        plans = explaining_store.explain_due_mails(now, 10)
        assert sorted(plans) == sorted(spec.name for spec in MAIL_CARRIERS)
        for name, plan in plans.items():
            winning = plan["queryPlanner"]["winningPlan"]
            assert "IXSCAN" in stages(winning) and "ix_mail_due" in str(winning), (name, winning)
            assert "SORT" not in stages(winning) and "COLLSCAN" not in stages(winning), (name, winning)


def test_sqlite_would_sort_without_the_tie_breaker_in_the_index(store, store_database):
    # What the check above tells apart: an index on the sorted field alone
    # still leaves SQLite sorting the id tie-breaker in a temporary b-tree.
    if store_database.kind != "sqlite":
        pytest.skip("shows SQLite's plan")
    people = store.collection(CollectionSpec("people", (Index(("team", "created"), unique=True),)))
    plan = people.explain(Query(equals={"team": "t1"}, sort=(("created", -1),)), 0, 20)
    assert any("USE TEMP B-TREE FOR RIGHT PART OF ORDER BY" in step for step in plan), plan


def test_each_index_of_a_sorted_list_ends_with_the_id():
    for spec in SPECS.values():
        for index in spec.indexes:
            if not index.unique:
                assert index.keys[-1] == ("id", index.keys[-2][1]), (spec.name, index)


# A staff search, alone and with the filters the console adds, in each order.
SEARCHES = {
    f"resolucion: {filters or 'all'} searched by {orden}":
        (lambda store, filters=filters, orden=orden:
         ResolucionRepository(store).list({**filters, "q": ("lampara",)}, orden, 0, 20))
    for filters in RESOLUCION_VIEWS for orden in SORTS
}
SEARCHES["apertura: a customer's incidents searched"] = (
    lambda store: AperturaRepository(store).list_of_cliente("c1", None, 0, 20, ("lampara",)))


@pytest.mark.parametrize("name", list(SEARCHES))
def test_every_search_is_driven_by_the_words_index(explaining_store, store_database, name):
    """A search costs its matches, whatever else it filters by: the words'
    index is read first and each match's document found by its key, never
    a walk of the collection or of another index probing the words per row."""
    for collection, query, skip, limit in recorded_queries(explaining_store, SEARCHES[name]):
        plan = collection.explain(query, skip, limit)
        if store_database.kind == "sqlite":
            # (A ranked page is a subquery, ``m``: its ids ranked, then their documents.)
            reads = [step for step in plan if not step.startswith(("CO-ROUTINE", "SCAN m", "USE TEMP B-TREE"))]
            assert "VIRTUAL TABLE INDEX" in reads[0] and "__texto " in reads[0], (name, plan)
            assert all(step.startswith("SEARCH") for step in reads[1:]), (name, plan)
        else:
            winning = plan["queryPlanner"]["winningPlan"]
            # TEXT (before 4.4) or TEXT_MATCH / TEXT_OR over the text index's IXSCAN.
            assert any(stage.startswith("TEXT") for stage in stages(winning)), (name, winning)
            assert "COLLSCAN" not in stages(winning), (name, winning)


def test_sqlite_reads_a_search_from_whichever_of_words_and_filters_selects_fewer(store, store_database):
    if store_database.kind != "sqlite":
        pytest.skip("shows SQLite's plan")
    from incidencias_resolucion.repository import INCIDENCIAS as spec

    incidents = store.collection(spec)
    for n in range(60):
        incidents.insert({"id": f"i{n:03d}", "titulo": "Lámpara" if n % 2 else "Mesa", "descripcion": "x",
                          "comentarios": [], "cliente": {"id": "c1" if n < 3 else "c2"}, "estado": "asignada",
                          "creada_en": f"2026-01-01T00:00:{n:02d}Z", "prioridad_rank": 1})
    one_customer = Query(equals={"cliente.id": "c1"}, text=("lampara",))
    assert "USING INDEX incidencias_ix_cliente_id" in incidents.explain(one_customer, 0, 20)[1]
    rare_word = Query(equals={"estado": "asignada"}, text=("mesa", "lampara"))
    assert "VIRTUAL TABLE INDEX" in incidents.explain(rare_word, 0, 20)[1]
    assert [d["id"] for d in incidents.find(one_customer)] == ["i001"]
