"""The portal's form helpers: a problem+json answer shown next to the fields
it names, refusals said plainly, typed values kept, safe redirects."""
from __future__ import annotations

import pytest

from portal.api import Problem
from portal.forms import (
    KEY_REUSED, FormErrors, field_errors, no_answer, put_present, refusal, safe_next, spanish, text_or_none, typed,
)

CAMPOS = ("producto.referencia", "producto.nombre", "titulo", "descripcion", "categorias")


def problem(status=422, errores=None, **extra):
    return Problem(status=status, title="Datos no válidos", detail="Revise estos campos", errores=errores or [],
                   extra=extra)


def test_each_error_goes_next_to_the_field_it_names_dotted_names_included():
    errors = field_errors(problem(errores=[
        {"campo": "producto.referencia", "mensaje": "Missing data for required field.", "ubicacion": "json"},
        {"campo": "titulo", "mensaje": "No puede estar vacío.", "ubicacion": "json"},
    ]), CAMPOS)
    assert errors.campos == {"producto.referencia": "Este campo es obligatorio.", "titulo": "No puede estar vacío."}
    assert errors.generales == []


def test_two_messages_for_one_field_are_joined_once_each():
    errors = field_errors(problem(errores=[
        {"campo": "titulo", "mensaje": "Length must be between 1 and 200."},
        {"campo": "titulo", "mensaje": "No puede estar vacío."},
        {"campo": "titulo", "mensaje": "No puede estar vacío."},
    ]), CAMPOS)
    assert errors.campos["titulo"] == "Debe tener entre 1 y 200 caracteres. No puede estar vacío."


def test_an_item_of_a_list_field_is_shown_next_to_the_list():
    errors = field_errors(problem(errores=[{"campo": "categorias.0", "mensaje": "Longer than maximum length 50."}]),
                          CAMPOS)
    assert errors.campos == {"categorias": "Como mucho 50 caracteres."}


def test_errors_about_what_the_form_has_no_field_for_go_above_it():
    errors = field_errors(problem(errores=[
        {"campo": "Idempotency-Key", "mensaje": "No válida", "ubicacion": "cabeceras"},
        {"campo": "(cuerpo)", "mensaje": "Envíe prioridad o categoria."},
    ]), CAMPOS)
    assert errors.campos == {}
    assert errors.generales == ["Idempotency-Key: No válida", "Envíe prioridad o categoria."]


def test_a_problem_without_errores_is_one_general_message():
    errors = field_errors(Problem(status=409, title="Email ya registrado", detail="Ese email ya está registrado"),
                          CAMPOS)
    assert errors.campos == {} and errors.generales == ["Ese email ya está registrado"]
    assert bool(errors) and not bool(FormErrors())


def test_a_conflict_of_state_names_the_state_in_spanish():
    text = refusal(problem(409, estado_actual="en_curso", propietario="resolucion"))
    assert "«En curso»" in text and "ya no es posible" in text


def test_a_403_says_it_is_not_allowed_and_why():
    text = refusal(Problem(status=403, title="Prohibido", detail="Un agente solo puede tomar incidencias sin asignar"))
    assert text == "No tiene permiso para hacer esto. Un agente solo puede tomar incidencias sin asignar"


@pytest.mark.parametrize("message, expected", [
    ("Not a valid email address.", "No es un email válido."),
    ("Not a valid date.", "No es una fecha válida."),
    ("Must be one of: baja, media.", "Debe ser uno de: baja, media."),
    ("Unknown field.", "Campo no admitido."),
    ("La contraseña actual no es correcta", "La contraseña actual no es correcta"),
])
def test_marshmallow_messages_in_spanish_and_the_services_own_untouched(message, expected):
    assert spanish(message) == expected


def test_what_was_typed_is_kept_as_text():
    form = {"titulo": "<b>roto</b>", "producto.referencia": "LMP-01"}
    assert typed(form, ("titulo", "producto.referencia", "pedido")) == {
        "titulo": "<b>roto</b>", "producto.referencia": "LMP-01", "pedido": ""}


def test_empty_fields_are_not_sent_and_optional_ones_become_none():
    body: dict = {}
    put_present(body, "titulo", "  ")
    put_present(body, "descripcion", "rota")
    assert body == {"descripcion": "rota"}
    assert text_or_none({"pedido": "  "}, "pedido") is None
    assert text_or_none({"pedido": " P-1 "}, "pedido") == "P-1"


@pytest.mark.parametrize("target, expected", [
    ("/incidencias/abc?x=1", "/incidencias/abc?x=1"),
    ("https://evil.example/", "/inicio"),
    ("//evil.example/", "/inicio"),
    ("/\\evil.example", "/inicio"),
    ("/ok\r\nSet-Cookie: x", "/inicio"),
    ("", "/inicio"),
    (None, "/inicio"),
])
def test_only_paths_of_this_site_are_followed_after_signing_in(target, expected):
    assert safe_next(target, "/inicio") == expected


def key_reused() -> Problem:
    """The services' 409 for a key used with another request, as they answer it."""
    return Problem.from_response(409, {
        "type": "urn:incidencias:problema:idempotencia", "title": "Clave de idempotencia reutilizada",
        "status": 409, "detail": "Esa Idempotency-Key ya se usó con otra petición",
        "errores": [{"campo": "Idempotency-Key", "mensaje": "Ya se usó con otra petición",
                     "ubicacion": "cabeceras"}]}, {})


def test_a_form_sent_again_with_other_data_is_told_plainly():
    assert key_reused().key_reused
    errors = field_errors(key_reused(), CAMPOS)
    assert errors.campos == {} and errors.generales == [KEY_REUSED]
    assert "Idempotency-Key" not in KEY_REUSED


def test_a_key_reused_is_told_by_its_problem_type_not_by_any_409():
    state = Problem.from_response(409, {"type": "urn:incidencias:problema:conflicto", "title": "Conflicto",
                                        "status": 409, "detail": "Ya no es posible", "estado_actual": "cerrada"}, {})
    assert not state.key_reused and not problem(422).key_reused
    assert "«Cerrada»" in field_errors(state, CAMPOS).generales[0]


def test_a_service_that_did_not_answer_may_have_done_it_and_a_resend_acts_once():
    text = no_answer("El servicio de incidencias")
    assert text.startswith("El servicio de incidencias no ha respondido")
    assert "no sabemos si se ha hecho" in text and "no se hará dos veces" in text
