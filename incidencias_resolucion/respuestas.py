"""Canned replies (``respuestas predefinidas``): texts supervisors and admins
write once and agents send when they comment on or resolve an incident.

A text may name the incident it is sent on with placeholders: ``{cliente}``
(the customer's name), ``{titulo}`` (the incident's title) and ``{agente}``
(the name of the employee sending it). The server puts them in, so what the
incident records, and the customer reads, is the text actually sent. Any
other ``{word}`` is refused when the reply is written, never discovered when
it is sent. Standard library only."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from incidencias_dominio import Actor, Incidencia

PLACEHOLDERS = ("cliente", "titulo", "agente")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def unknown_placeholders(texto: str) -> list[str]:
    """The ``{word}`` of ``texto`` that are no placeholder, in order, once each."""
    return list(dict.fromkeys(m.group(1) for m in _PLACEHOLDER.finditer(texto) if m.group(1) not in PLACEHOLDERS))


def render(texto: str, incidencia: Incidencia, por: Actor) -> str:
    """``texto`` with its placeholders put in for ``incidencia``, sent by ``por``.
    A value is put in as it is: a ``{cliente}`` inside a customer's name is
    not read again."""
    values = {"cliente": incidencia.cliente.nombre or "", "titulo": incidencia.titulo, "agente": por.nombre or ""}
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), texto)


@dataclass(frozen=True)
class RespuestaPredefinida:
    id: str
    titulo: str
    texto: str
    categoria: str | None
    activa: bool
    creada_en: str
    actualizada_en: str
    retirada_en: str | None = None

    def __post_init__(self) -> None:
        unknown = unknown_placeholders(self.texto)
        if unknown:
            raise ValueError(f"unknown placeholders: {unknown}")

    def cambiar(self, cambios: dict[str, Any], en: str) -> "RespuestaPredefinida":
        """The reply with ``cambios`` (titulo, texto, categoria; None clears the category)."""
        known = {k: v for k, v in cambios.items() if k in ("titulo", "texto", "categoria")}
        return replace(self, **known, actualizada_en=en)

    def retirar(self, en: str) -> "RespuestaPredefinida":
        """Offered no more (kept, so what was sent with it stays explained); retiring twice changes nothing."""
        if not self.activa:
            return self
        return replace(self, activa=False, retirada_en=en, actualizada_en=en)

    def to_document(self) -> dict[str, Any]:
        return {"id": self.id, "titulo": self.titulo, "texto": self.texto, "categoria": self.categoria,
                "activa": self.activa, "creada_en": self.creada_en, "actualizada_en": self.actualizada_en,
                "retirada_en": self.retirada_en}

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "RespuestaPredefinida":
        return cls(doc["id"], doc["titulo"], doc["texto"], doc.get("categoria"), bool(doc.get("activa", True)),
                   doc["creada_en"], doc["actualizada_en"], doc.get("retirada_en"))
