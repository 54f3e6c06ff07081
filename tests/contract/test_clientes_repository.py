"""clientes' repository behaves the same on every store adapter.

Runs over the ``store`` fixture of tests/conftest.py: SQLite in a temporary
file, the MongoDB adapter on mongomock (an in-process fake of the server,
because no MongoDB server runs on the development machines), the in-memory
adapter and a real MongoDB whenever ``MONGO_URL`` is set. Password hashes are opaque strings
here; nothing else is faked.
"""
from __future__ import annotations

import json

import pytest

from clientes import events
from clientes.domain import ERASED_NAME, Cliente
from clientes.repository import CLIENTES, ConcurrentUpdate, ClienteRepository
from common.storage import DuplicateKeyError

pytestmark = pytest.mark.outbox(CLIENTES)


def cliente(i: int, **overrides) -> Cliente:
    at = f"2026-05-{i:02d}T09:00:00.000000Z"
    values = dict(id=f"c{i:02d}", nombre=f"Nombre{i}", apellidos=f"Apellido{i}", email=f"persona{i}@example.com",
                  password_hash=f"hash-{i}", creado_en=at, actualizado_en=at)
    values.update(overrides)
    return Cliente(**values)


def outbox(store) -> list[dict]:
    return [json.loads(m.body) for m in store.pending_events(1000)]


@pytest.fixture
def repo(store) -> ClienteRepository:
    return ClienteRepository(store)


def test_add_then_get_round_trips_every_field(repo):
    original = cliente(1, fecha_nacimiento="1990-07-26", direccion="Calle Mayor 1, Granada", telefono="+34 600 000 000")
    repo.add(original)
    assert original._rev == 1
    loaded = repo.get("c01")
    assert loaded == original
    assert loaded._rev == 1
    assert repo.get("c99") is None


def test_add_stores_its_events_in_the_same_write(repo, store):
    new = cliente(1)
    repo.add(new, events.registrado(new))
    [event] = outbox(store)
    assert event["tipo"] == "cliente.registrado" and event["datos"]["id"] == "c01"


def test_by_email_finds_exact_stored_email_only(repo):
    repo.add(cliente(1))
    repo.add(cliente(2))
    assert repo.by_email("persona2@example.com").id == "c02"
    assert repo.by_email("nadie@example.com") is None
    assert repo.by_email("persona@example.com") is None  # no partial match
    assert repo.by_email("persona.@example.com") is None  # no pattern match


@pytest.mark.parametrize("operator", [{"$ne": None}, {"$gt": ""}, {"$regex": ".*"}, ["persona1@example.com"]])
def test_by_email_never_executes_operators(repo, operator):
    repo.add(cliente(1))
    with pytest.raises(TypeError):
        repo.by_email(operator)


def test_email_is_unique_and_the_duplicate_is_not_written(repo, store):
    first = cliente(1)
    repo.add(first, events.registrado(first))
    duplicate = cliente(2, email="persona1@example.com")
    with pytest.raises(DuplicateKeyError) as info:
        repo.add(duplicate, events.registrado(duplicate))
    assert info.value.fields == ("email",)
    assert repo.get("c02") is None
    assert [e["datos"]["id"] for e in outbox(store)] == ["c01"]


def test_erased_accounts_free_their_email_and_never_collide(repo):
    for i in (1, 2):
        account = cliente(i, email="misma@example.com") if i == 1 else cliente(i)
        repo.add(account)
        account.eliminar("2026-06-01T00:00:00.000000Z")
        repo.save(account)
    assert repo.get("c01").email is None and repo.get("c02").email is None
    repo.add(cliente(3, email="misma@example.com"))
    assert repo.by_email("misma@example.com").id == "c03"


def test_save_writes_the_change_and_its_event(repo, store):
    account = cliente(1)
    repo.add(account)
    account.actualizar_perfil({"nombre": "Ana", "email": "ANA@Example.com"}, "2026-06-01T00:00:00.000000Z")
    repo.save(account, events.actualizado(account))
    assert account._rev == 2
    loaded = repo.get("c01")
    assert (loaded.nombre, loaded.email, loaded._rev) == ("Ana", "ana@example.com", 2)
    assert repo.by_email("ana@example.com").id == "c01"
    assert repo.by_email("persona1@example.com") is None
    assert [e["tipo"] for e in outbox(store)] == ["cliente.actualizado"]


def test_save_detects_a_concurrent_update_and_writes_nothing(repo, store):
    repo.add(cliente(1))
    mine, theirs = repo.get("c01"), repo.get("c01")
    theirs.actualizar_perfil({"nombre": "Primero"}, "2026-06-01T00:00:00.000000Z")
    repo.save(theirs, events.actualizado(theirs))
    mine.actualizar_perfil({"nombre": "Segundo"}, "2026-06-01T00:00:01.000000Z")
    with pytest.raises(ConcurrentUpdate):
        repo.save(mine, events.actualizado(mine))
    assert repo.get("c01").nombre == "Primero"
    assert [e["datos"]["nombre"] for e in outbox(store)] == ["Primero"]
    # reloading and applying again succeeds
    fresh = repo.get("c01")
    fresh.actualizar_perfil({"nombre": "Segundo"}, "2026-06-01T00:00:02.000000Z")
    repo.save(fresh)
    assert repo.get("c01").nombre == "Segundo"


def test_save_to_a_taken_email_is_a_duplicate_and_writes_nothing(repo, store):
    repo.add(cliente(1))
    repo.add(cliente(2))
    account = repo.get("c02")
    account.actualizar_perfil({"email": "persona1@example.com", "nombre": "Otro"}, "2026-06-01T00:00:00.000000Z")
    with pytest.raises(DuplicateKeyError) as info:
        repo.save(account, events.actualizado(account))
    assert info.value.fields == ("email",)
    stored = repo.get("c02")
    assert (stored.email, stored.nombre, stored._rev) == ("persona2@example.com", "Nombre2", 1)
    assert outbox(store) == []


def test_erase_is_stored_without_personal_data(repo):
    account = cliente(1, fecha_nacimiento="1990-07-26", direccion="Calle Sol 3", telefono="+34 600 111 222")
    repo.add(account)
    account.eliminar("2026-06-01T00:00:00.000000Z")
    repo.save(account, events.eliminado(account))
    loaded = repo.get("c01")
    assert loaded.eliminado and loaded.eliminado_en == "2026-06-01T00:00:00.000000Z"
    assert (loaded.nombre, loaded.apellidos) == (ERASED_NAME, "")
    assert loaded.email is loaded.password_hash is loaded.telefono is loaded.direccion is None
    assert loaded.fecha_nacimiento is None


def test_list_is_newest_first_without_erased_accounts(repo):
    for i in range(1, 6):
        repo.add(cliente(i))
    erased = repo.get("c03")
    erased.eliminar("2026-06-01T00:00:00.000000Z")
    repo.save(erased)
    assert repo.count() == 4
    assert [c.id for c in repo.list(None, 0, 10)] == ["c05", "c04", "c02", "c01"]


def test_list_pages_with_skip_and_limit(repo):
    for i in range(1, 8):
        repo.add(cliente(i))
    pages = [[c.id for c in repo.list(None, skip, 3)] for skip in (0, 3, 6, 9)]
    assert pages == [["c07", "c06", "c05"], ["c04", "c03", "c02"], ["c01"], []]


def test_list_breaks_creation_time_ties_by_id(repo):
    # Newest first: the id breaks ties in the same direction (one index serves both).
    same = "2026-05-01T09:00:00.000000Z"
    for suffix in ("b", "d", "a", "c"):
        repo.add(cliente(1, id=f"x-{suffix}", email=f"{suffix}@example.com", creado_en=same, actualizado_en=same))
    assert [c.id for c in repo.list(None, 0, 10)] == ["x-d", "x-c", "x-b", "x-a"]
    assert [c.id for skip in range(4) for c in repo.list(None, skip, 1)] == ["x-d", "x-c", "x-b", "x-a"]


def test_search_matches_email_and_names_case_insensitively(repo):
    repo.add(cliente(1, nombre="Lucía", apellidos="Martín Sanz", email="lucia@tienda.es"))
    repo.add(cliente(2, nombre="Pedro", apellidos="Gómez", email="pedro.gomez@example.com"))
    repo.add(cliente(3, nombre="Marta", apellidos="Ruiz", email="mruiz@example.com"))

    def ids(text: str) -> list[str]:
        found = [c.id for c in repo.list(text, 0, 10)]
        assert repo.count(text) == len(found)
        return found

    assert ids("TIENDA") == ["c01"]
    assert ids("martín") == ["c01"]
    assert ids("MAR") == ["c03", "c01"]
    assert ids("example.com") == ["c03", "c02"]
    assert ids("gómez") == ["c02"]
    assert ids("zzz") == []


def test_a_caller_is_found_by_phone_however_either_side_wrote_it(repo):
    repo.add(cliente(1, telefono="+34 600 12 34 56"))
    repo.add(cliente(2, telefono="(91) 555-0101"))
    repo.add(cliente(3, telefono=None))

    def ids(text: str) -> list[str]:
        found = [c.id for c in repo.list(text, 0, 10)]
        assert repo.count(text) == len(found)
        return found

    assert ids("600123456") == ["c01"]
    assert ids("600 12 34 56") == ["c01"]
    assert ids("+34 600-123-456") == ["c01"]
    assert ids("91 555 01 01") == ["c02"]
    assert ids("(91) 555") == ["c02"]
    assert ids("555 0102") == []
    repo.add(cliente(4, telefono="611 22 33 44"))  # held without its country code ...
    assert ids("+34 611 22 33 44") == ["c04"]  # ... found by a caller's line showing it
    assert ids("0034 600 12 34 56") == ["c01"]
    assert ids("Nombre3") == ["c03"]  # a name is still a name


def test_accounts_stored_before_the_phone_digits_get_them_at_the_first_search(repo, store):
    collection = store.collection(CLIENTES)
    for i, telefono in ((1, "600 11 22 33"), (2, None)):
        doc = cliente(i, telefono=telefono).to_document()
        del doc["telefono_digitos"]
        collection.insert(doc)
    assert [c.id for c in repo.list("600112233", 0, 10)] == ["c01"]
    assert collection.get("c01")["telefono_digitos"] == "600112233"
    assert "telefono_digitos" not in collection.get("c02")  # nothing to keep: left as it was
    assert repo.ensure_phone_digits() is False  # once


@pytest.mark.parametrize("text", ["%", "_", ".*", "^", "(", "\\", "[a-z]", "$ne"])
def test_search_treats_special_characters_literally(repo, text):
    repo.add(cliente(1))
    repo.add(cliente(2, apellidos=f"Con{text}Raro"))
    assert [c.id for c in repo.list(text, 0, 10)] == ["c02"]
    assert repo.count(text) == 1


def test_search_excludes_erased_accounts_and_pages(repo):
    for i in range(1, 6):
        repo.add(cliente(i))
    erased = repo.get("c05")
    erased.eliminar("2026-06-01T00:00:00.000000Z")
    repo.save(erased)
    assert repo.count("persona") == 4
    assert repo.count(ERASED_NAME) == 0
    assert [c.id for c in repo.list("persona", 1, 2)] == ["c03", "c02"]


def test_search_ignores_case_of_accented_capitals(repo):
    """Spanish names often start with an accented capital (Álvaro, Óscar, Ángela);
    SQLite's own lower() folds ASCII only."""
    repo.add(cliente(1, nombre="Álvaro", apellidos="Ñúñez Órdenes"))
    repo.add(cliente(2))
    for text in ("Álvaro", "álvaro", "ÁLVARO", "ñúñez", "ÓRDENES"):
        assert [c.id for c in repo.list(text, 0, 10)] == ["c01"], text
        assert repo.count(text) == 1, text


# --- staff replica (what clientes knows of employees) ------------------------------------------------

def test_staff_replica_keeps_the_newest_state_of_each_employee(store):
    from common.messaging import Event
    from cuentas.personal import PersonalReplica

    def event(id: str, ocurrido_en: str, version: int, rol: str) -> Event:
        datos = {"id": "e1", "rol": rol, "activo": True, "version": version}
        return Event(id, "empleado.actualizado", ocurrido_en, "empleados", None, datos)

    replica = PersonalReplica(store)
    assert replica.get("e1") is None
    assert replica.apply(event("a", "t", 1, "supervisor")) is True
    assert replica.apply(event("b", "t", 2, "agente")) is True
    assert replica.apply(event("c", "u", 1, "admin")) is False
    assert replica.apply(event("b", "t", 2, "admin")) is False
    stored = replica.get("e1")
    assert (stored["rol"], stored["activo"]) == ("agente", True)
    assert PersonalReplica(store).get("e1")["rol"] == "agente"  # a second process sees the same
