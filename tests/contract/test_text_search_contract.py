"""The full-text search contract (``Query.text`` over ``CollectionSpec.text``):
every adapter answers it alike, each with its engine's own index
(``common.storage.text``).

mongomock has no ``$text``: its rows skip, and the real MongoDB runs them
whenever ``MONGO_URL`` is set."""
from __future__ import annotations

import pytest

from common.storage import CollectionSpec, Index, InvalidData, OutboxMessage, Query
from common.storage.text import TextIndex

NOTES = CollectionSpec(
    "notas",
    (Index(("estado", "creada")),),
    text=TextIndex((("titulo", 4), ("descripcion", 2), ("comentarios.texto", 1))),
)
PLAIN = CollectionSpec("sin_texto")

pytestmark = pytest.mark.outbox(NOTES)


@pytest.fixture
def notes(store, store_database):
    if store_database.kind == "mongomock":
        pytest.skip("mongomock has no $text; the real MongoDB runs this when MONGO_URL is set")
    return store.collection(NOTES)


def note(i: int, titulo: str = "Pedido", descripcion: str = "Sin novedad", *comentarios: str, **extra):
    return {"id": f"n{i:03d}", "titulo": titulo, "descripcion": descripcion,
            "comentarios": [{"texto": c, "interna": False} for c in comentarios],
            "estado": "abierta", "creada": f"2026-03-{i % 28 + 1:02d}T10:00:00Z", **extra}


def ids(found):
    return [d["id"] for d in found]


def test_a_word_finds_its_whole_word_whatever_its_case_and_accents(notes):
    notes.insert(note(1, "Lámpara rota"))
    notes.insert(note(2, "Mesa", "La LAMPARA de la mesa"))
    notes.insert(note(3, "Silla", "Llegó coja", "¿Y la lámpara?"))
    notes.insert(note(4, "Lamparilla", "Otra cosa"))
    for asked in ("lampara", "LÁMPARA", "Lámpara"):
        assert sorted(ids(notes.find(Query(text=(asked,))))) == ["n001", "n002", "n003"]
    assert notes.count(Query(text=("lampara",))) == 3
    assert ids(notes.find(Query(text=("llego",)))) == ["n003"]


def test_every_word_asked_must_appear_in_some_indexed_path(notes):
    notes.insert(note(1, "Lámpara rota", "Llegó en una caja"))
    notes.insert(note(2, "Lámpara", "Funciona", "La caja venía abierta"))
    notes.insert(note(3, "Caja", "Rota por una esquina"))
    assert sorted(ids(notes.find(Query(text=("lampara", "caja"))))) == ["n001", "n002"]
    assert ids(notes.find(Query(text=("lampara", "rota")))) == ["n001"]
    assert notes.find(Query(text=("lampara", "paraguas"))) == []
    assert notes.count(Query(text=("lampara", "paraguas"))) == 0


def test_best_matches_come_first_heavier_paths_and_more_occurrences(notes):
    notes.insert(note(1, "Pedido", "Una descripción larga que habla de muchas cosas distintas del envío", "ventilador"))
    notes.insert(note(2, "Ventilador", "El ventilador hace ruido", "ventilador cambiado"))
    notes.insert(note(3, "Pedido", "El ventilador no gira"))
    assert ids(notes.find(Query(text=("ventilador",)))) == ["n002", "n003", "n001"]


def test_the_text_combines_with_filters_sorts_and_pages(notes):
    for i in range(1, 8):
        notes.insert(note(i, "Envío retrasado" if i % 2 else "Factura", estado="cerrada" if i > 4 else "abierta"))
    found = Query(text=("envio",), equals={"estado": "abierta"}, sort=(("creada", -1),))
    assert ids(notes.find(found)) == ["n003", "n001"] and notes.count(found) == 2
    every = Query(text=("envio",), sort=(("creada", 1),))
    assert ids(notes.find(every, skip=1, limit=2)) == ["n003", "n005"]
    ranked = Query(text=("envio",))
    first, rest = ids(notes.find(ranked, limit=2)), ids(notes.find(ranked, skip=2))
    # Equal scores: the id decides, so pages never repeat or skip one.
    assert first + rest == ["n001", "n003", "n005", "n007"]


def test_a_write_changes_what_the_words_find_in_the_same_step(notes):
    stored = notes.insert(note(1, "Pedido", "Sin novedad"))
    assert notes.find(Query(text=("grieta",))) == []
    notes.replace({**stored, "comentarios": [{"texto": "Tiene una grieta", "interna": False}]})
    assert ids(notes.find(Query(text=("grieta",)))) == ["n001"]
    again = notes.get("n001")
    notes.replace({**again, "comentarios": []})
    assert notes.find(Query(text=("grieta",))) == []
    assert notes.delete("n001") is True
    assert notes.find(Query(text=("pedido",))) == []


def test_a_refused_write_changes_no_words(notes):
    stored = notes.insert(note(1, "Pedido"))
    notes.replace({**stored, "titulo": "Pedido urgente"})
    assert notes.replace({**stored, "titulo": "Pedido perdido"}) is None  # a stale revision
    assert notes.find(Query(text=("perdido",))) == []
    assert ids(notes.find(Query(text=("urgente",)))) == ["n001"]


def test_a_write_with_events_indexes_its_words_too(notes, store):
    notes.insert(note(1, "Batidora"), [OutboxMessage("e1", "nota.creada", "{}")])
    assert ids(notes.find(Query(text=("batidora",)))) == ["n001"]
    assert [e.id for e in store.pending_events()] == ["e1"]


def test_texts_inside_lists_and_missing_paths(notes):
    notes.insert({"id": "n001", "titulo": "Sin más", "estado": "abierta", "creada": "2026-03-01T00:00:00Z"})
    notes.insert(note(2, "Pedido", "Normal", "primero", "segundo comentario"))
    assert ids(notes.find(Query(text=("segundo",)))) == ["n002"]
    assert ids(notes.find(Query(text=("primero", "segundo")))) == ["n002"]
    assert ids(notes.find(Query(text=("mas",)))) == ["n001"]


def test_the_index_is_built_for_documents_stored_before_it_was_declared(store, store_database, reopen_store):
    if store_database.kind == "mongomock":
        pytest.skip("mongomock has no $text; the real MongoDB runs this when MONGO_URL is set")
    before = CollectionSpec("notas", NOTES.indexes)
    store.collection(before).insert(note(1, "Tostadora"))
    later = reopen_store(outbox=(NOTES,)).collection(NOTES)
    assert ids(later.find(Query(text=("tostadora",)))) == ["n001"]


@pytest.mark.parametrize("text", ['"lampara"', "lampara*", "a OR b", "col:x", "(x)", "-x", "x y", "", "a\x00"])
def test_only_words_reach_an_engine(text):
    with pytest.raises(InvalidData):
        Query(text=(text,))


def test_a_collection_without_a_text_index_cannot_be_searched_by_words(store, store_database):
    if store_database.kind == "mongomock":
        pytest.skip("mongomock has no $text; the real MongoDB runs this when MONGO_URL is set")
    plain = store.collection(PLAIN)
    with pytest.raises(ValueError):
        plain.find(Query(text=("x",)))


def test_a_collection_opened_without_the_text_index_leaves_it_to_those_who_declare_it(store, store_database,
                                                                                      reopen_store):
    if store_database.kind == "mongomock":
        pytest.skip("mongomock has no $text; the real MongoDB runs this when MONGO_URL is set")
    declared = store.collection(NOTES)
    declared.insert(note(1, "Tostadora"))
    bare = reopen_store(outbox=(NOTES,)).collection(CollectionSpec("notas"))  # a tool counting documents
    assert bare.count(Query()) == 1
    declared.insert(note(2, "Tostadora nueva"))
    assert sorted(ids(declared.find(Query(text=("tostadora",))))) == ["n001", "n002"]


def test_documents_written_without_the_text_index_are_indexed_when_it_is_declared_again(store, store_database,
                                                                                       reopen_store):
    if store_database.kind == "mongomock":
        pytest.skip("mongomock has no $text; the real MongoDB runs this when MONGO_URL is set")
    store.collection(NOTES).insert(note(1, "Tostadora"))
    reopen_store(outbox=(NOTES,)).collection(CollectionSpec("notas", NOTES.indexes)).insert(note(2, "Tostadora"))
    again = reopen_store(outbox=(NOTES,)).collection(NOTES)
    assert sorted(ids(again.find(Query(text=("tostadora",))))) == ["n001", "n002"]


@pytest.mark.parametrize("many", ["matches", "filtered"])
def test_words_and_a_filter_answer_alike_whichever_selects_fewer(notes, many):
    # SQLite reads from the words or from the filter's index, whichever
    # selects fewer: the answer is the same either way.
    for i in range(1, 41):
        common = many == "matches" or i in (7, 21)
        mine = many == "filtered" or i in (7, 21)
        notes.insert(note(i, "Envío" if common else "Factura", estado="abierta" if mine else "cerrada"))
    found = Query(text=("envio",), equals={"estado": "abierta"})
    assert ids(notes.find(found)) == ["n007", "n021"] and notes.count(found) == 2
    newest = Query(text=("envio",), equals={"estado": "abierta"}, sort=(("creada", -1),))
    assert ids(notes.find(newest)) == ["n021", "n007"]
    assert ids(notes.find(found, skip=1, limit=5)) == ["n021"]


def test_equal_scores_page_by_id_whatever_order_the_documents_came_in(notes):
    for i in (2, 1, 4, 3):
        notes.insert(note(i, "Envío", "Igual"))
    ranked = Query(text=("envio",))
    assert ids(notes.find(ranked)) == ["n001", "n002", "n003", "n004"]
    assert [ids(notes.find(ranked, skip=n, limit=1))[0] for n in range(4)] == ["n001", "n002", "n003", "n004"]
    with_filter = Query(text=("envio",), equals={"estado": "abierta"})
    assert [ids(notes.find(with_filter, skip=n, limit=3)) for n in (0, 3)] == [["n001", "n002", "n003"], ["n004"]]


def test_documents_deleted_or_added_without_the_text_index_are_caught_up_when_it_is_declared(store, store_database,
                                                                                            reopen_store):
    if store_database.kind == "mongomock":
        pytest.skip("mongomock has no $text; the real MongoDB runs this when MONGO_URL is set")
    declared = store.collection(NOTES)
    declared.insert(note(1, "Tostadora"))
    declared.insert(note(2, "Tostadora"))
    bare = reopen_store(outbox=(NOTES,)).collection(CollectionSpec("notas", NOTES.indexes))
    bare.delete("n001")
    bare.insert(note(3, "Tostadora"))
    again = reopen_store(outbox=(NOTES,)).collection(NOTES)
    found = Query(text=("tostadora",))
    assert ids(again.find(found)) == ["n002", "n003"] and again.count(found) == 2


def test_sqlite_builds_the_index_again_when_its_rowid_map_is_missing(store, store_database, reopen_store):
    if store_database.kind != "sqlite":
        pytest.skip("SQLite's own tables")
    store.collection(NOTES).insert(note(1, "Tostadora"))
    with store.transaction() as conn:
        conn.execute('DROP TABLE "notas__texto_filas"')
    again = reopen_store(outbox=(NOTES,)).collection(NOTES)
    assert ids(again.find(Query(text=("tostadora",)))) == ["n001"]


@pytest.mark.parametrize("fields", [(("a.b", 1), ("a_b", 1)), (("titulo", 1), ("titulo", 2))])
def test_a_text_index_names_each_path_once(fields):
    with pytest.raises(ValueError):
        TextIndex(fields)
