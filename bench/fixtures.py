"""Bulk fixtures for the list endpoints: thousands of incidents written
straight into both incident services' stores, through their repositories'
own document mapping (``to_document``) and collections, without events
(nothing is published: these are history, not news).

Each state gets one template built with the domain (``Incidencia.abrir``,
``asignar``, ``resolver``, ``cerrar``), then copies vary the id, the customer,
the assignee and the creation time. SQLite: one transaction per 5,000 rows
(``executemany`` on the collection's table). MongoDB: ``insert_many`` on the
collection the repository opened.
"""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from common.storage import Store
from incidencias_dominio import APERTURA, RESOLUCION, SISTEMA, Actor, EmpleadoRef, Incidencia, format_instant

# A support desk's history: most incidents are closed, a few are in progress.
# No abierta/reabierta (resolucion's periodic sweep would start assigning them
# to the benchmark's agents) and no resuelta (apertura's auto-close would
# start closing them): the fixtures must stay still while lists are measured.
STATE_MIX = (("cerrada", 0.86), ("asignada", 0.09), ("en_curso", 0.05))
CHUNK = 5000


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
             start: datetime | None = None) -> Iterable[tuple]:
    """``total`` (template, estado, customer, agent, created) tuples: incidents
    sharing their state's template history, spread over ``customers`` and
    ``agents``, oldest first, all created before ``start`` (default: a year ago)."""
    rng = random.Random(seed)
    start = start or datetime.now(timezone.utc) - timedelta(days=365)
    base = start - timedelta(days=365)
    templates = {estado: _template(estado, base) for estado, _ in STATE_MIX}
    states = [estado for estado, _ in STATE_MIX]
    weights = [w for _, w in STATE_MIX]
    step = timedelta(days=365) / max(total, 1)
    for n in range(total):
        estado = rng.choices(states, weights)[0]
        yield templates[estado], estado, customers[n % len(customers)], agents[n % len(agents)], base + step * n


def _documents(total, customers, agents, to_document) -> Iterable[dict[str, Any]]:
    cache: dict[str, dict[str, Any]] = {}
    for template, estado, cliente_id, (agent_id, agent_name), created in generate(total, customers, agents):
        doc = cache.get(estado)
        if doc is None:
            doc = cache[estado] = to_document(template)
        copy = {**doc, "id": uuid.uuid4().hex, "creada_en": format_instant(created),
                "cliente": {**doc["cliente"], "id": cliente_id}}
        if doc.get("asignada_a"):
            copy["asignada_a"] = {"id": agent_id, "nombre": agent_name}
        yield copy


def bulk_insert(store: Store, collection, docs: Iterable[dict[str, Any]]) -> int:
    """Insert documents in large batches; returns how many."""
    written = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal written
        if not batch:
            return
        if hasattr(store, "transaction"):  # SQLite
            rows = [(d["id"], collection._body(d)) for d in batch]
            with store.transaction() as conn:
                conn.executemany(f"INSERT INTO {collection.table} (id, rev, doc) VALUES (?, 1, ?)", rows)
        elif hasattr(collection, "raw"):  # MongoDB
            collection.raw.insert_many([{"_id": d["id"], **collection._fields(d), "_rev": 1} for d in batch],
                                       ordered=False)
        else:
            for doc in batch:
                collection.insert(doc)
        written += len(batch)
        batch.clear()

    for doc in docs:
        batch.append(doc)
        if len(batch) >= CHUNK:
            flush()
    flush()
    return written


def fill(apertura_url: str, resolucion_url: str, total: int, customers: list[str],
         agents: list[tuple[str, str]]) -> dict[str, int]:
    """Add ``total`` incidents to both incident services' stores."""
    from common.storage import open_store
    from incidencias_apertura import repository as apertura
    from incidencias_resolucion import repository as resolucion

    counts = {}
    for name, url, module in (
        ("incidencias_apertura", apertura_url, apertura),
        ("incidencias_resolucion", resolucion_url, resolucion),
    ):
        store = open_store(url)
        try:
            repo = module.IncidenciaRepository(store)

            def mapping(incidencia, repo=repo):
                return repo.to_document(incidencia, repo.side.of(None))

            counts[name] = bulk_insert(store, repo.collection, _documents(total, customers, agents, mapping))
        finally:
            store.close()
    return counts


def remove(apertura_url: str, resolucion_url: str, customer_prefix: str = "fixture-cliente-") -> int:
    """Delete the fixture incidents again (they belong to customers no one is)."""
    from common.storage import open_store
    from incidencias_apertura import repository as apertura
    from incidencias_resolucion import repository as resolucion

    removed = 0
    for url, module in ((apertura_url, apertura), (resolucion_url, resolucion)):
        store = open_store(url)
        try:
            collection = module.IncidenciaRepository(store).collection
            if hasattr(store, "transaction"):  # SQLite
                with store.transaction() as conn:
                    removed += conn.execute(
                        f"DELETE FROM {collection.table} WHERE json_extract(doc, '$.cliente.id') LIKE ?",
                        (customer_prefix + "%",)).rowcount
            elif hasattr(collection, "raw"):  # MongoDB
                removed += collection.raw.delete_many(
                    {"cliente.id": {"$regex": "^" + customer_prefix}}).deleted_count
        finally:
            store.close()
    return removed
