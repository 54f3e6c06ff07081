"""The Idempotency-Key plumbing that needs no request: what makes two
requests "the same" (the fingerprint), which keys are valid, what a
fingerprint leaves out, and how the OpenAPI refusals are merged. What a key
does to a write is tested where it is used (tests/services, tests/integration)."""
from __future__ import annotations

import datetime as dt

import marshmallow as ma
import pytest

from common.http.idempotency import documented, fingerprint, secret_fields
from common.idempotency import valid_key


def test_a_fingerprint_is_the_request_whatever_the_order_of_its_members():
    a = fingerprint("post", "/incidencias/1/comentarios", "c1", {"texto": "hola", "interna": False})
    b = fingerprint("POST", "/incidencias/1/comentarios", "c1", {"interna": False, "texto": "hola"})
    assert a == b and len(a) == 64


@pytest.mark.parametrize("other", [
    ("PATCH", "/incidencias/1/comentarios", "c1", {"texto": "hola"}),
    ("POST", "/incidencias/2/comentarios", "c1", {"texto": "hola"}),
    ("POST", "/incidencias/1/comentarios", "c2", {"texto": "hola"}),
    ("POST", "/incidencias/1/comentarios", "c1", {"texto": "hola "}),
], ids=["method", "path", "caller", "body"])
def test_a_fingerprint_changes_with_the_method_the_path_the_caller_and_the_body(other):
    assert fingerprint("POST", "/incidencias/1/comentarios", "c1", {"texto": "hola"}) != fingerprint(*other)


def test_loaded_values_that_are_not_json_have_a_fingerprint_too():
    assert fingerprint("POST", "/clientes", "", {"fecha_nacimiento": dt.date(1990, 7, 26)}) == \
        fingerprint("POST", "/clientes", "", {"fecha_nacimiento": "1990-07-26"})


def test_fields_never_answered_back_stay_out_of_the_fingerprint():
    class Alta(ma.Schema):
        email = ma.fields.String()
        password = ma.fields.String(load_only=True)

    assert secret_fields(Alta) == {"password"} and secret_fields(None) == frozenset()


@pytest.mark.parametrize("key, valid", [
    ("k", True), ("a" * 200, True), ("550e8400-e29b-41d4-a716-446655440000", True), ("!~", True),
    ("", False), ("a" * 201, False), ("con espacio", False), ("ñ", False), ("tab\t", False), ("fin\n", False),
])
def test_a_key_is_one_to_two_hundred_visible_ascii_characters(key, valid):
    assert valid_key(key) is valid


def test_the_key_refusals_join_the_ones_an_operation_documents():
    reused = ("Idempotency-Key already used for another request, or a request with it still in progress "
              "(send it again after Retry-After)")
    assert documented({409: "Not in resuelta"}) == {
        409: f"Not in resuelta; or {reused}",
        400: "Idempotency-Key not valid (1 to 200 visible ASCII characters)"}
    assert documented({})[409] == reused
