"""Mass assignment: fields that name what only the system may set
(``estado``, ``version``, ``asignada_a``, ``rol``, ``_id``, ``password_hash``,
``cliente``, ``email_verificado``, ``enlaces``, ...) added to a valid body,
on every operation that takes a body, in every service. Each must be
refused with 422 naming that field, and what it names must be unchanged
afterwards.

The operations come from the live OpenAPI documents, so a new endpoint with
a body fails here until it has a sample in ``samples.py``.
"""
from __future__ import annotations

import pytest

from .world import problem
from .samples import SAMPLE_KEYS, body_keys, body_samples, make_targets, request_schema

pytestmark = [pytest.mark.security, pytest.mark.slow]

FIELDS = {
    "estado": "cerrada",
    "version": 999,
    "asignada_a": {"id": "x", "nombre": "Otra persona"},
    "rol": "admin",
    "_id": "000000000000000000000000",
    "id": "otro-id",
    "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
    "cliente": {"id": "otro-cliente", "nombre": "Otra persona"},
    "activo": True,
    "eliminado": False,
    "historial": [],
    "creada_en": "2000-01-01T00:00:00Z",
    # What only the account links set: a verified e-mail, a pending one, an
    # invitation's end, the links' hashes, the start of the valid sessions.
    "email_verificado": True,
    "email_pendiente": "otra.persona@example.com",
    "invitacion_pendiente": False,
    "enlaces": {"restablecimiento": {"hash": "0" * 64, "caduca_en": "2999-01-01T00:00:00Z"}},
    "sesiones_desde": None,
}
# The same field under names a lax parser might fold into it.
SPELLINGS = ["Estado", "ESTADO", "estado ", "\u0435stado", "estado\u0000", "$set", "__proto__"]


@pytest.fixture(scope="module")
def samples(world):
    return body_samples(world, make_targets(world))


def test_every_operation_with_a_body_has_a_sample(openapi, samples):
    missing = sorted(body_keys(openapi) - set(samples))
    assert not missing, f"operations with a body and no sample in tests/security/samples.py: {missing}"
    assert set(samples) == set(SAMPLE_KEYS) == body_keys(openapi)


def test_every_sample_is_valid_as_it_stands(openapi, samples):
    """Only the added field can be what is refused: the rest of each body
    satisfies the operation's own schema."""
    import jsonschema

    for key, sample in samples.items():
        schema = request_schema(openapi, key)
        jsonschema.validate(sample.body, schema)


@pytest.mark.parametrize("key", SAMPLE_KEYS, ids=lambda k: " ".join(k))
def test_fields_only_the_system_sets_are_refused_and_change_nothing(world, openapi, samples, attacks, key):
    rec = attacks("mass_assignment")
    sample = samples[key]
    service, method, _path = key
    declared = set(request_schema(openapi, key).get("properties", {}))
    before = sample.snapshot()
    for field, value in FIELDS.items():
        if field in declared:
            continue  # a field the operation takes (rol on POST /empleados): its rules are tested below
        response = world.client.call(method, service, sample.path, sample.actor.token if sample.actor else None,
                                     json={**sample.body, field: value})
        if rec.expect(f"{method} {service}{sample.path.split('/')[1]} with {field}", response, 422):
            named = {e["campo"] for e in problem(response)["errores"]}
            assert named == {field}, (key, field, named)
    if "producto" in sample.body:
        response = world.client.call(method, service, sample.path, sample.actor.token,
                                     json={**sample.body, "producto": {**sample.body["producto"], "_id": "x",
                                                                       "precio": 0}})
        rec.expect(f"{method} {service} with producto._id", response, 422)
    assert sample.snapshot() == before, f"{key}: a refused request changed something"
    rec.check()


def test_spellings_of_a_protected_field_are_refused_too(world, samples, attacks):
    rec = attacks("mass_assignment")
    for key in [("apertura", "POST", "/incidencias"), ("resolucion", "PATCH", "/incidencias/{incidencia_id}")]:
        sample = samples[key]
        before = sample.snapshot()
        for spelling in SPELLINGS:
            response = world.client.call(key[1], key[0], sample.path, sample.actor.token,
                                         json={**sample.body, spelling: "cerrada"})
            rec.expect(f"{key[1]} {key[0]}{key[2]} with {spelling!r}", response, 422)
        assert sample.snapshot() == before
    rec.check()


def test_nobody_grants_themself_a_role_or_categories(world, client, attacks):
    """``rol`` and ``categorias`` are fields of PATCH /empleados, but only an
    admin may set them: an employee changing their own is refused, and the
    account keeps its role."""
    rec = attacks("mass_assignment")
    agent = world.new_empleado("agente", nombre="Ambiciosa")
    supervisor = world.new_empleado("supervisor", nombre="Ambicioso")
    for actor in (agent, supervisor):
        for path in ("/empleados/yo", f"/empleados/{actor.id}"):
            for body in ({"rol": "admin"}, {"rol": "supervisor"}, {"categorias": ["todas"]},
                         {"nombre": "Yo", "rol": "admin"}):
                response = client.call("PATCH", "empleados", path, actor.token, json=body)
                rec.expect(f"{actor.rol} PATCH {path.replace(actor.id, '{self}')} {body}", response, 403)
        me = client.call("GET", "empleados", "/empleados/yo", actor.token)
        assert me.status_code == 200 and me.json()["rol"] == actor.rol and me.json()["categorias"] == []
        assert me.json()["nombre"] == actor.nombre, "a refused request changed the name"
    rec.check()


def test_a_customer_cannot_register_or_become_anything_but_a_customer(world, client, attacks):
    rec = attacks("mass_assignment")
    email = f"rol.{world.categoria}@example.com"
    base = {"nombre": "Eva", "apellidos": "Lista", "email": email, "password": "Cliente-pass-2026"}
    for extra in ({"rol": "admin"}, {"rol": "agente"}, {"id": world.c1.id}, {"eliminado": True},
                  {"password_hash": FIELDS["password_hash"]}):
        response = client.call("POST", "clientes", "/clientes", json={**base, **extra})
        rec.expect(f"POST /clientes with {sorted(extra)}", response, 422)
    created = client.call("POST", "clientes", "/clientes", json=base)
    assert created.status_code == 201, "the refused registrations must have left the email free"
    token = client.call("POST", "clientes", "/clientes/login",
                        json={"email": email, "password": base["password"]}).json()["access_token"]
    import jwt

    assert jwt.decode(token, options={"verify_signature": False})["rol"] == "cliente"
    rec.expect("a new customer's token on a staff endpoint",
               client.call("GET", "resolucion", "/incidencias", token), 403)
    rec.check()
