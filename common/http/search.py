"""``q``: the words of a full-text search, as a list operation takes them.

A search text is words (letters and digits) between spaces and the
punctuation of ordinary writing (``.,;¿?¡!'-/@``). The characters of the
engines' query languages (FTS5's quotes, stars, brackets and column
colons, MongoDB's quotes) are refused, as are control characters
and a text too long or of too many words: each a 400 problem naming ``q``
(``BAD_SEARCH``), never a 500 nor a search that means something else. The
engines never see the text itself, only its words (``Query.text``).
"""
from __future__ import annotations

import marshmallow as ma

from common.storage import has_control_characters
from common.storage.text import words

from .problems import Problem

MAX_CHARS = 200
MAX_WORDS = 12
SYNTAX = '"*()[]{}^:+~\\|<>=`$&#%'
# Escaped only where a character class needs it, so the pattern is valid in
# ECMAScript's Unicode mode too (what JSON Schema validators compile).
PATTERN = "^[^" + "".join("\\" + c if c in "\\[]^" else c for c in SYNTAX) + "]*$"
BAD_SEARCH = (f"`q` is not a search the engines take: a query-language character ({SYNTAX}), a control "
              f"character, more than {MAX_CHARS} characters or {MAX_WORDS} words, or no word at all")


def problem_of(text: str) -> str | None:
    """Why ``text`` is not a search (in the words shown next to the field), or None."""
    if len(text) > MAX_CHARS:
        return f"A lo sumo {MAX_CHARS} caracteres."
    if has_control_characters(text):
        return "No puede contener caracteres de control."
    refused = sorted({c for c in text if c in SYNTAX})
    if refused:
        return f"Escriba solo palabras: la búsqueda no admite {' '.join(refused)}"
    found = words(text)
    if not found:
        return "Escriba al menos una palabra."
    if len(found) > MAX_WORDS:
        return f"A lo sumo {MAX_WORDS} palabras."
    return None


class FullTextQuery(ma.fields.String):
    """The words of ``q`` (a tuple), or None when it is blank (an empty
    search box searches nothing). A text that is not a search answers 400
    at once, naming the field, whatever else the query holds."""

    def __init__(self, **kwargs):
        metadata = {"maxLength": MAX_CHARS, "pattern": PATTERN, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.strip():
            return None
        why = problem_of(text)
        if why is not None:
            raise Problem(400, "Búsqueda no válida", f"Revise estos campos: {attr}", slug="busqueda-no-valida",
                          errores=[{"campo": attr, "mensaje": why, "ubicacion": "consulta"}])
        return tuple(words(text))
