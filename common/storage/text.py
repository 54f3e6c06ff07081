"""Full-text search on the storage port: what a collection indexes
(``TextIndex``) and what a query asks (``Query.text``: words that must all
appear).

Each adapter answers it with its engine's own index, kept in the same atomic
write as the document: SQLite an FTS5 table (tokenizer ``unicode61
remove_diacritics 2``), MongoDB a text index (its ``default_language``,
diacritic- and case-insensitive); the in-memory adapter folds words as those
do. All three pass ``tests/contract/test_text_search_contract.py``:

- a word matches a whole word of an indexed path, whatever its case and
  accents ("lampara" finds "Lámpara", "LÁMPARA");
- every word asked must appear (in any of the indexed paths);
- best matches first (``Query.sort`` empty): more occurrences, in
  heavier paths, rank higher; ties by id.

Where the engines differ, and the contract does not go: MongoDB stems the
index's language and then checks each word as a folded substring of the
text, so "lámpara" also finds "lámparas" (not the other way round), and a
search of stop words only ("de la") finds nothing; SQLite matches whole
words as written. Their scores differ in
detail, not in the order of clearly better matches.

Words reach an engine only as words (``common.http.search`` cuts them,
``Query`` checks them again): no query-language syntax of either engine
ever does.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

_WORD = re.compile(r"[^\W_]+")
_SAFE_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class TextIndex:
    """The document paths a collection's full-text search reads, each with
    its weight (an integer ≥ 1: a match there counts that many times more).
    A path may cross lists of objects (``comentarios.texto``: the text of
    every comment). ``language`` is MongoDB's name for the index's language
    (its stemmer and stop words); SQLite does not stem."""

    fields: tuple[tuple[str, int], ...]
    language: str = "spanish"

    def __post_init__(self) -> None:
        if not self.fields:
            raise ValueError("a text index reads at least one path")
        for path, weight in self.fields:
            if not _SAFE_PATH.match(path) or path == "id":
                raise ValueError(f"invalid text index path {path!r}")
            if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
                raise ValueError(f"a text index weight is an integer >= 1, got {weight!r}")
        if len({path.replace(".", "_") for path, _ in self.fields}) != len(self.fields):
            raise ValueError("a text index names each path once (and no two that differ only by . and _)")

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(path for path, _ in self.fields)


def words(text: str) -> list[str]:
    """The words of ``text`` as the engines' tokenizers cut them: runs of
    letters and digits (NFC first, so an accent typed as a combining mark
    stays in its word)."""
    return _WORD.findall(unicodedata.normalize("NFC", text))


def is_word(text: str) -> bool:
    return isinstance(text, str) and _WORD.fullmatch(text) is not None


def phrases(wanted: Iterable[str]) -> str:
    """The words as both engines' query languages take them, each a quoted
    phrase: FTS5 and MongoDB alike then require every one, and read nothing
    inside as syntax (a word is letters and digits only, ``Query``)."""
    return " ".join(f'"{word}"' for word in wanted)


def fold(word: str) -> str:
    """A word without case or accents, as the indexes compare them
    ("Lámpara" → "lampara", "Ñandú" → "nandu")."""
    decomposed = unicodedata.normalize("NFD", word.lower())  # no compatibility mapping: FTS5 makes none
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def text_of(doc: Any, path: str) -> Iterator[str]:
    """The strings at ``path`` of ``doc``, through lists on the way
    (``comentarios.texto``: each comment's text), in document order."""
    values: list[Any] = [doc]
    for part in path.split("."):
        found: list[Any] = []
        for value in values:
            items = value if isinstance(value, list) else [value]
            found.extend(item[part] for item in items if isinstance(item, dict) and part in item)
        values = found
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                yield item


def column_text(doc: Any, path: str) -> str:
    """Every string at ``path`` as one text (what SQLite's FTS5 table holds)."""
    return "\n".join(text_of(doc, path))


def score(doc: Any, index: TextIndex, wanted: Iterable[str]) -> int:
    """The in-memory adapter's relevance of ``doc`` to the words ``wanted``:
    0 unless every one appears; otherwise each occurrence counted by its
    path's weight."""
    wanted = {fold(w) for w in wanted}
    found: set[str] = set()
    total = 0
    for path, weight in index.fields:
        for text in text_of(doc, path):
            for word in words(text):
                folded = fold(word)
                if folded in wanted:
                    found.add(folded)
                    total += weight
    return total if found == wanted else 0
