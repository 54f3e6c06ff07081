"""Bulk fixtures: thousands of incidents written straight into both incident
services' stores, through their repositories' own document mapping
(``to_document``) and collections, without events (nothing is published:
these are history, not news). The list measurements use a support desk's
history (``STATE_MIX``); the open-load levels use open incidents only
(``OPEN_MIX``), held by real agents.

Each state gets one template built with the domain (``Incidencia.abrir``,
``asignar``, ``resolver``, ``cerrar``), then copies vary the id, the customer,
the assignee and the creation time. SQLite: one transaction per 5,000 rows
(``executemany`` on the collection's table, and each row's full-text index). MongoDB: ``insert_many`` on the
collection the repository opened.

Counters: a store keeps named counters that every write of a document moves
(resolucion: each employee's open load, ``carga:<id>``). A raw insert
bypasses them, so after each batch the counters are moved by what its
documents add (``repo.counter_changes(None, doc)``, summed by name, one
``Store.adjust_counters``), for both repositories alike (apertura's move
none). ``Fixtures`` keeps the sum it moved, and moves it back by the
negatives when it deletes the fixtures: nothing in the system changes a
fixture (no event names one, and no periodic job touches an asignada,
en_curso or cerrada incident), so what they add when deleted is what they
added when inserted. Between a batch's insert and its counters' move, an
assignment may read a load short by that batch; it only picks another agent.
"""
from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Sequence

from common.storage import CounterChange, Query, Store
from incidencias_dominio import APERTURA, RESOLUCION, SISTEMA, Actor, EmpleadoRef, Incidencia, format_instant

# A support desk's history: most incidents are closed, a few are in progress.
# No abierta/reabierta (resolucion's periodic sweep would start assigning them
# to the benchmark's agents) and no resuelta (apertura's auto-close would
# start closing them): the fixtures must stay still while lists are measured.
STATE_MIX = (("cerrada", 0.86), ("asignada", 0.09), ("en_curso", 0.05))
# Open incidents held by agents, as a busy desk's queues: mostly waiting for
# the agent, some being worked on. Still, for the same reasons as above.
OPEN_MIX = (("asignada", 0.8), ("en_curso", 0.2))
CHUNK = 5000
# One fixture in SEARCHED_EVERY holds SEARCHED_WORD in its description (1 %):
# what the search benchmark asks for, typed without its accent.
SEARCHED_EVERY = 100
SEARCHED_TEXT = "Vino con la lámpara fundida."
SEARCHED_WORD = "lampara"
FIXTURE_CUSTOMER_PREFIX = "fixture-cliente-"
Mix = Sequence[tuple[str, float]]


def _template(estado: str, at: datetime) -> Incidencia:
    incidencia = Incidencia.abrir(
        "template", {"id": "c", "nombre": "Cliente Histórico"},
        {"referencia": "REF-0001", "nombre": "Producto de catálogo"},
        "Incidencia histórica", "Descripción de una incidencia ya atendida " * 3, "envios", "media", at,
    )
    if estado == "abierta":
        return incidencia
    agente = EmpleadoRef("e", "Agente Histórico")
    incidencia.asignar(RESOLUCION, agente, SISTEMA, at + timedelta(seconds=1))
    if estado == "asignada":
        return incidencia
    actor = Actor("e", "agente", "Agente Histórico")
    if estado == "en_curso":
        incidencia.iniciar(RESOLUCION, actor, at + timedelta(minutes=5))
        return incidencia
    incidencia.resolver(RESOLUCION, "Se repuso el producto", actor, at + timedelta(hours=2))
    if estado == "resuelta":
        return incidencia
    incidencia.cerrar(APERTURA, Actor("c", "cliente", "Cliente Histórico"), at + timedelta(days=1))
    return incidencia


def generate(total: int, customers: list[str], agents: list[tuple[str, str]], seed: int = 7,
             start: datetime | None = None, mix: Mix = STATE_MIX) -> Iterable[tuple]:
    """``total`` (template, estado, customer, agent, created) tuples: incidents
    sharing their state's template history, in the proportions of ``mix``,
    spread over ``customers`` and ``agents``, oldest first, all created before
    ``start`` (default: a year ago)."""
    rng = random.Random(seed)
    start = start or datetime.now(timezone.utc) - timedelta(days=365)
    base = start - timedelta(days=365)
    templates = {estado: _template(estado, base) for estado, _ in mix}
    states = [estado for estado, _ in mix]
    weights = [w for _, w in mix]
    step = timedelta(days=365) / max(total, 1)
    for n in range(total):
        estado = rng.choices(states, weights)[0]
        yield templates[estado], estado, customers[n % len(customers)], agents[n % len(agents)], base + step * n


def _documents(total, customers, agents, to_document, mix: Mix = STATE_MIX,
               seed: int = 7) -> Iterable[dict[str, Any]]:
    cache: dict[str, dict[str, Any]] = {}
    for n, (template, estado, cliente_id, (agent_id, agent_name), created) in enumerate(
            generate(total, customers, agents, seed=seed, mix=mix)):
        doc = cache.get(estado)
        if doc is None:
            doc = cache[estado] = to_document(template)
        copy = {**doc, "id": uuid.uuid4().hex, "creada_en": format_instant(created),
                "cliente": {**doc["cliente"], "id": cliente_id}}
        if n % SEARCHED_EVERY == 0:
            copy["descripcion"] = f"{doc['descripcion']} {SEARCHED_TEXT}"
        if doc.get("asignada_a"):
            copy["asignada_a"] = {"id": agent_id, "nombre": agent_name}
        yield copy


def bulk_insert(store: Store, collection, docs: Iterable[dict[str, Any]],
                counted: Callable[[dict[str, Any]], Iterable[CounterChange]] | None = None,
                moved: Counter | None = None) -> int:
    """Insert documents in large batches; returns how many. With
    ``counted`` (a repository's ``counter_changes(None, doc)``), each batch's
    counter changes are moved right after it (added to ``moved`` too)."""
    written = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal written
        if not batch:
            return
        changes: Counter = Counter()
        if counted is not None:
            for doc in batch:
                for change in counted(doc):
                    changes[change.name] += change.delta
        if hasattr(store, "transaction"):  # SQLite
            rows = [(d["id"], collection._body(d)) for d in batch]
            with store.transaction() as conn:
                conn.executemany(f"INSERT INTO {collection.table} (id, rev, doc) VALUES (?, 1, ?)", rows)
                for doc in batch:  # its full-text index, in the same transaction, as every write keeps it
                    collection._write_text(conn, doc["id"], doc)
        elif hasattr(collection, "raw"):  # MongoDB
            collection.raw.insert_many([{"_id": d["id"], **collection._fields(d), "_rev": 1} for d in batch],
                                       ordered=False)
        else:
            for doc in batch:
                collection.insert(doc)
        adjust(store, changes)
        if moved is not None:
            moved.update(changes)
        written += len(batch)
        batch.clear()

    for doc in docs:
        batch.append(doc)
        if len(batch) >= CHUNK:
            flush()
    flush()
    return written


def adjust(store: Store, changes: Counter) -> None:
    """Move ``store``'s counters by ``changes`` (name -> delta), at once."""
    moves = [CounterChange(name, delta) for name, delta in sorted(changes.items()) if delta]
    if moves:
        store.adjust_counters(moves)


class Fixtures:
    """Fixture incidents in both incident services' stores: ``fill`` adds
    some, ``remove`` deletes them all (every incident of a customer named
    ``fixture-cliente-*``, no one's account) and moves the counters back by
    what ``fill`` moved."""

    def __init__(self, apertura_url: str, resolucion_url: str):
        self.urls = {"incidencias_apertura": apertura_url, "incidencias_resolucion": resolucion_url}
        self.moved: dict[str, Counter] = {name: Counter() for name in self.urls}
        self.batches = 0

    def _repositories(self):
        from incidencias_apertura import repository as apertura
        from incidencias_resolucion import repository as resolucion

        return (("incidencias_apertura", apertura), ("incidencias_resolucion", resolucion))

    def fill(self, total: int, customers: list[str], agents: list[tuple[str, str]],
             mix: Mix = STATE_MIX) -> dict[str, int]:
        """Add ``total`` incidents to both stores (the same ones to each),
        with their counters moved; how many per store."""
        from common.storage import open_store

        counts = {}
        self.batches += 1
        for name, module in self._repositories():
            store = open_store(self.urls[name])
            try:
                repo = module.IncidenciaRepository(store)

                def mapping(incidencia, repo=repo):
                    return repo.to_document(incidencia, repo.side.of(None))

                # Each fill its own seed: the states of a top-up do not repeat the first fill's.
                docs = _documents(total, customers, agents, mapping, mix=mix, seed=7 + self.batches)
                counts[name] = bulk_insert(store, repo.collection, docs,
                                           counted=lambda doc, repo=repo: repo.counter_changes(None, doc),
                                           moved=self.moved[name])
            finally:
                store.close()
        return counts

    def remove(self, customer_prefix: str = FIXTURE_CUSTOMER_PREFIX) -> int:
        """Delete the fixture incidents again and move the counters back."""
        from common.storage import open_store

        removed = 0
        for name, module in self._repositories():
            store = open_store(self.urls[name])
            try:
                collection = module.IncidenciaRepository(store).collection
                if hasattr(store, "transaction"):  # SQLite
                    with store.transaction() as conn:
                        for (doc_id,) in conn.execute(
                                f"SELECT id FROM {collection.table} WHERE json_extract(doc, '$.cliente.id') LIKE ?",
                                (customer_prefix + "%",)).fetchall():
                            collection._drop_text(conn, doc_id)
                        removed += conn.execute(
                            f"DELETE FROM {collection.table} WHERE json_extract(doc, '$.cliente.id') LIKE ?",
                            (customer_prefix + "%",)).rowcount
                elif hasattr(collection, "raw"):  # MongoDB
                    removed += collection.raw.delete_many(
                        {"cliente.id": {"$regex": "^" + customer_prefix}}).deleted_count
                else:  # memory (tests)
                    for doc in collection.find(Query()):
                        if str((doc.get("cliente") or {}).get("id", "")).startswith(customer_prefix):
                            removed += collection.delete(doc["id"])
                adjust(store, Counter({k: -v for k, v in self.moved[name].items()}))
                self.moved[name].clear()
            finally:
                store.close()
        return removed
