"""Applying the other service's snapshots to the local replica of an incident.

The rule that makes duplicates and out-of-order deliveries harmless:

- the state (every field but the comments) is taken from a snapshot only if
  its ``version`` is higher than the local one; an equal or lower version
  changes no state field;
- comments are always merged as a union by id, ordered by creado_en then id;
- anonymisation is one-way: once either side erased the customer's name, the
  result stays anonymised, whatever the version (names never come back);
- internal notes are kept only where the caller says so
  (``conservar_internas``); the customer-facing replica passes False and then
  holds none, whatever the snapshot carries;
- tags (``etiquetas``) are the local replica's own: kept as they are,
  whatever the snapshot carries (the other side never has any);
- the customer's rating (``valoracion``) is set once, by apertura: once
  either side has one, it stays, whatever the version (like a comment, it
  arrives on an event of its own, maybe before the close it follows).

Being a max (state), a union (comments) and an or (anonymisation, rating), applying
any set of snapshots in any order, any number of times, gives one result.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Any, Iterable, Mapping

from .model import Comentario, Incidencia, ordenar_comentarios


def fusionar_comentarios(
    local: Incidencia,
    comentarios: Iterable[Comentario | Mapping[str, Any]],
    *,
    conservar_internas: bool,
) -> bool:
    """Merge comments into ``local`` in place (also into a final incident:
    a comment written before the close may arrive after it). Returns whether
    ``local`` changed."""
    entrantes = [Comentario.of(c) for c in comentarios]
    antes = list(local.comentarios)
    fusion = ordenar_comentarios([*antes, *entrantes])
    if not conservar_internas:
        fusion = [c for c in fusion if not c.interna]
    local.comentarios = fusion
    if local.cliente.anonimizado:
        local.anonimizar_cliente()
    return local.comentarios != antes


def aplicar_snapshot(
    local: Incidencia | None,
    snapshot: Mapping[str, Any],
    *,
    conservar_internas: bool,
) -> tuple[Incidencia, bool]:
    """Return the replica after applying ``snapshot`` and whether it differs
    from ``local`` (which is never modified). Raises ValueError for a
    malformed snapshot or one about another incident."""
    entrante = Incidencia.from_snapshot(snapshot)
    if local is not None and entrante.id != local.id:
        raise ValueError(f"snapshot of {entrante.id} applied to {local.id}")

    if local is None or entrante.version > local.version:
        previos = [] if local is None else list(local.comentarios)
        resultado = dataclasses.replace(entrante, comentarios=previos,
                                        etiquetas=[] if local is None else list(local.etiquetas))
    else:
        resultado = copy.deepcopy(local)

    valoracion = (local.valoracion if local is not None else None) or entrante.valoracion
    if valoracion is not None and resultado.valoracion is None:
        resultado.valoracion = valoracion
    if (local is not None and local.cliente.anonimizado) or entrante.cliente.anonimizado:
        resultado.anonimizar_cliente()
    fusionar_comentarios(resultado, entrante.comentarios, conservar_internas=conservar_internas)
    return resultado, resultado != local
