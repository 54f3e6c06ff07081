"""RFC 9457 problem documents (``common.http.problems``) and how the shared
application factory answers HTTP errors with them.

Nothing is faked: the last tests build a bare service app with the real
factory, a SQLite store in a temporary directory and a local token issuer.
"""
from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dataclasses import dataclass

from flask import Flask

from common.config import Settings
from common.errors import Forbidden, Invalid, NotFound
from common.http.app import create_service_app
from common.http.problems import PROBLEM_JSON, TYPE_BASE, Problem, field_errors, validation_problem
from common.idempotency import KeyInProgress
from common.storage import InvalidData
from common.storage.retry import NotFound as MissingDocument
from common.storage.retry import TooMuchContention
from common.storage.sqlite import SQLiteStore
from common.tokens import TokenIssuer, TokenVerifier, TrustedIssuer


def test_minimal_problem_has_the_rfc_9457_members():
    body = Problem(404, "No encontrado").to_dict()
    assert body == {"type": "about:blank", "title": "No encontrado", "status": 404, "detail": "No encontrado"}


def test_slug_errors_and_extensions_are_rendered():
    problem = Problem(409, "Conflicto", "Estado actual: cerrada", slug="transicion",
                      errores=[{"campo": "estado", "mensaje": "x"}], estado="cerrada")
    body = problem.to_dict()
    assert body["type"] == f"{TYPE_BASE}transicion"
    assert body["detail"] == "Estado actual: cerrada"
    assert body["errores"] == [{"campo": "estado", "mensaje": "x"}]
    assert body["estado"] == "cerrada"
    assert str(problem) == "Estado actual: cerrada"


def test_response_is_problem_json_with_headers():
    app = Flask(__name__)
    with app.app_context():
        response = Problem(429, "Demasiados intentos", "Espere", slug="x",
                           headers={"Retry-After": "30"}).response()
    assert response.status_code == 429
    assert response.mimetype == PROBLEM_JSON
    assert response.headers["Retry-After"] == "30"
    assert json.loads(response.get_data(as_text=True))["status"] == 429


def test_response_keeps_non_ascii_text_readable():
    app = Flask(__name__)
    with app.app_context():
        response = Problem(422, "Datos no válidos").response()
    assert "válidos" in response.get_data(as_text=True)


def test_field_errors_flattens_nested_messages_and_schema_errors():
    messages = {
        "nombre": ["Missing data for required field."],
        "producto": {"referencia": ["Not a valid string."], "_schema": ["Invalid producto."]},
        "_schema": ["Invalid input type."],
        "lineas": {0: {"cantidad": ["Must be positive."]}},
    }
    errors = field_errors(messages, "cuerpo")
    assert {"campo": "nombre", "mensaje": "Missing data for required field.", "ubicacion": "cuerpo"} in errors
    assert {"campo": "producto.referencia", "mensaje": "Not a valid string.", "ubicacion": "cuerpo"} in errors
    assert {"campo": "producto", "mensaje": "Invalid producto.", "ubicacion": "cuerpo"} in errors
    assert {"campo": "(cuerpo)", "mensaje": "Invalid input type.", "ubicacion": "cuerpo"} in errors
    assert {"campo": "lineas.0.cantidad", "mensaje": "Must be positive.", "ubicacion": "cuerpo"} in errors
    assert len(errors) == 5


def test_field_errors_without_location_and_with_a_bare_message():
    assert field_errors("boom") == [{"campo": "(cuerpo)", "mensaje": "boom"}]


def test_validation_problem_names_every_field_once_across_locations():
    problem = validation_problem({
        "cuerpo": {"email": ["Not a valid email address.", "Too long."], "password": ["Weak."]},
        "consulta": {"pagina": ["Must be greater than or equal to 1."]},
    })
    body = problem.to_dict()
    assert body["status"] == 422
    assert body["type"] == f"{TYPE_BASE}validacion"
    assert body["detail"] == "Revise estos campos: email, password, pagina"
    assert [e["campo"] for e in body["errores"]] == ["email", "email", "password", "pagina"]
    assert {e["ubicacion"] for e in body["errores"]} == {"cuerpo", "consulta"}
    assert validation_problem({"cuerpo": {"x": ["y"]}}, 400).status == 400


@dataclass
class BareComponents:
    settings: Settings
    store: SQLiteStore
    verifier: TokenVerifier

    def is_revoked(self, _principal) -> bool:
        return False


class Averia(Exception):
    """A domain error of the bare service, mapped when its app is built."""


@pytest.fixture
def bare_app(tmp_path):
    settings = Settings(data_dir=tmp_path, keys_dir=tmp_path, amqp_url="amqp://guest:guest@127.0.0.1:1/")
    issuer = TokenIssuer(Ed25519PrivateKey.generate(), "clientes", "incidencias", 600)
    store = SQLiteStore(tmp_path / "bare.sqlite3")
    state = BareComponents(settings, store, TokenVerifier("incidencias", [TrustedIssuer.local(issuer, ["cliente"])]))
    app, _api = create_service_app("bare", "Bare", "A service with no routes of its own", state, {},
                                   {Averia: lambda exc: Problem(409, "Avería", str(exc), slug="averia", pieza="x")})

    @app.get("/explota")
    def explode():
        raise RuntimeError("secret internal detail")

    @app.get("/rechazos/<kind>")
    def refuse(kind: str):
        raise {
            "prohibido": Forbidden("Solo su dueño"),
            "falta": NotFound("La pieza no existe", slug="no-encontrada", title="No encontrada"),
            "invalido": Invalid("pieza_id", "No es una pieza", "La pieza no sirve"),
            "contencion": TooMuchContention("d1"),
            "documento": MissingDocument("d1"),
            "averia": Averia("rota"),
            "no-almacenable": InvalidData("mongodb: the document cannot be stored: BSON document too large"),
            "en-curso": KeyInProgress(),
        }[kind]

    yield app
    store.close()


def test_unexpected_exception_is_a_500_problem_without_internals(bare_app):
    response = bare_app.test_client().get("/explota")
    assert response.status_code == 500
    assert response.mimetype == PROBLEM_JSON
    text = response.get_data(as_text=True)
    assert "secret internal detail" not in text and "Traceback" not in text
    assert response.get_json()["type"] == f"{TYPE_BASE}error-interno"


def test_http_errors_are_problems_and_405_says_what_is_allowed(bare_app):
    client = bare_app.test_client()
    missing = client.get("/no-existe")
    assert missing.status_code == 404 and missing.mimetype == PROBLEM_JSON
    assert missing.get_json()["status"] == 404
    wrong = client.post("/salud/vivo")
    assert wrong.status_code == 405 and wrong.mimetype == PROBLEM_JSON
    assert "GET" in wrong.headers["Allow"]


def test_correlation_id_is_echoed_when_well_formed_and_replaced_otherwise(bare_app):
    client = bare_app.test_client()
    assert client.get("/salud/vivo", headers={"X-Correlation-ID": "abc-123"}).headers["X-Correlation-ID"] == "abc-123"
    replaced = client.get("/salud/vivo", headers={"X-Correlation-ID": "bad value <script>"})
    assert replaced.headers["X-Correlation-ID"] not in ("", "bad value <script>")


@pytest.mark.parametrize("kind, status, body", [
    ("prohibido", 403, {"type": f"{TYPE_BASE}prohibido", "title": "Prohibido", "status": 403, "detail": "Solo su dueño"}),
    ("falta", 404, {"type": f"{TYPE_BASE}no-encontrada", "title": "No encontrada", "status": 404,
                    "detail": "La pieza no existe"}),
    ("invalido", 422, {"type": f"{TYPE_BASE}validacion", "title": "Datos no válidos", "status": 422,
                       "detail": "La pieza no sirve",
                       "errores": [{"campo": "pieza_id", "mensaje": "No es una pieza", "ubicacion": "cuerpo"}]}),
    ("contencion", 409, {"type": f"{TYPE_BASE}conflicto-concurrente", "title": "Conflicto", "status": 409,
                         "detail": "El recurso cambió mientras tanto; reintente"}),
    ("documento", 404, {"type": f"{TYPE_BASE}no-encontrado", "title": "No encontrado", "status": 404,
                        "detail": "El recurso no existe"}),
    ("averia", 409, {"type": f"{TYPE_BASE}averia", "title": "Avería", "status": 409, "detail": "rota", "pieza": "x"}),
    # What the database can never take (too large, unencodable): 422, and the storage's words stay inside.
    ("no-almacenable", 422, {"type": f"{TYPE_BASE}datos-no-almacenables", "title": "Datos no válidos", "status": 422,
                             "detail": "Los datos no se pueden guardar tal como vienen",
                             "errores": [{"campo": "(cuerpo)", "mensaje": "No se puede guardar tal como viene",
                                          "ubicacion": "cuerpo"}]}),
    ("en-curso", 409, {"type": f"{TYPE_BASE}idempotencia-en-curso", "title": "Petición en curso", "status": 409,
                       "detail": "Una petición con esa Idempotency-Key está en curso; reintente en unos segundos",
                       "errores": [{"campo": "Idempotency-Key", "mensaje": "Una petición con esta clave está en curso",
                                    "ubicacion": "cabeceras"}]}),
])
def test_refusals_of_use_cases_are_answered_once_for_every_view(bare_app, kind, status, body):
    response = bare_app.test_client().get(f"/rechazos/{kind}")
    assert response.status_code == status and response.mimetype == PROBLEM_JSON
    assert response.get_json() == body


def test_a_request_still_in_progress_says_when_to_send_it_again(bare_app):
    assert bare_app.test_client().get("/rechazos/en-curso").headers["Retry-After"] == "1"
