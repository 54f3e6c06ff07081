"""What every service's application factory shares: JSON errors as problem
documents, correlation ids, OpenAPI and docs, health, metrics, auth state."""
from __future__ import annotations

import http
import json
import logging
import re
from typing import Any, Callable, Protocol

import flask_smorest
from flask_smorest.utils import prepare_response
from flask import Flask, current_app, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from common.config import Settings
from common.errors import ApplicationError
from common.context import current_correlation_id, reset_correlation_id, set_correlation_id
from common.logs import configure_logging
from common.storage import InvalidData, StorageUnavailable, Store
from common.tokens import Principal, TokenVerifier

from .health import health_blueprint
from .metrics import init_metrics, metrics_blueprint
from .openapi import CONVENTIONS, PROBLEM_JSON, ContractPlugin
from .problems import Problem, ProblemSchema, validation_problem
from .service import readiness_checks

log = logging.getLogger(__name__)
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_TITLES = {
    400: ("Petición no válida", "La petición no se puede interpretar"),
    401: ("No autenticado", "Hace falta un token válido"),
    403: ("Prohibido", "No tiene permiso para esta operación"),
    404: ("No encontrado", "El recurso no existe"),
    405: ("Método no permitido", "Este recurso no admite ese método"),
    413: ("Cuerpo demasiado grande", "El cuerpo supera el tamaño máximo admitido"),
    415: ("Tipo de contenido no admitido", "Envíe el cuerpo como application/json"),
    500: ("Error interno", "Error inesperado; el equipo ha sido avisado"),
}
_LOCATIONS = {"json": "cuerpo", "query": "consulta", "path": "ruta", "headers": "cabeceras"}


class ServiceState(Protocol):
    """What the HTTP plumbing reads of a service's components (its
    ``bootstrap.Components``, built by the factory in each process)."""

    settings: Settings
    store: Store
    verifier: TokenVerifier

    def is_revoked(self, principal: Principal) -> bool: ...


class AccountIdConverter(BaseConverter):
    """``<cuenta:...>``: an account's id in a path, any segment but the
    fixed words the account routes use beside it (``login``, ``yo``,
    ``invitacion``).
    Without it ``GET /clientes/login`` matched ``GET /clientes/<id>`` and
    answered "no such customer", and ``OPTIONS`` advertised GET there; with
    it such a request finds only the fixed route, and gets its 405."""

    regex = r"(?!(?:login|yo|invitacion)(?![^/]))[^/]+"


def components() -> Any:
    """The components of the service answering this request."""
    return current_app.extensions["incidencias"]


class ProblemApi(flask_smorest.Api):
    """flask-smorest's Api answering every HTTP error as RFC 9457 problem+json."""

    ERROR_SCHEMA = ProblemSchema
    PROBLEM_CONTENT_TYPE = PROBLEM_JSON

    def _register_responses(self):
        """The error responses every operation refers to, documented with
        the content type they are sent with (flask-smorest says
        application/json for all of them)."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
                prepare_response(response, self.spec, self.PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, self.PROBLEM_CONTENT_TYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME or "DEFAULT_ERROR", response, lazy=True)

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        messages = data.get("messages") or data.get("errors")
        if messages and error.code in (400, 422):
            located = {_LOCATIONS.get(k, k): v for k, v in messages.items()}
            if error.code == 400:
                problem = validation_problem(located, 400)
                problem.title, problem.detail, problem.slug = (
                    "Cuerpo no válido", "El cuerpo no es JSON válido", "json-no-valido")
            else:
                problem = validation_problem(located)
            return problem.response()
        title, detail = _TITLES.get(error.code, (error.name, error.description))
        problem = Problem(error.code or 500, title, detail, headers=data.get("headers"))
        response = problem.response()
        if error.code == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response


def _refuse_unstorable_json() -> None:
    """JSON the schemas would accept but nothing could process: nesting deep
    enough to exhaust the parser, or lone surrogates no database can store.
    (Malformed JSON is left to the schema layer, which names it.)"""
    raw = request.get_data(cache=True)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and len(raw) >= limit:
        # A chunked body has no Content-Length for Werkzeug to refuse up front;
        # its stream stops at the limit, so reaching it means it was larger.
        raise Problem(413, "Cuerpo demasiado grande", "El cuerpo supera el tamaño máximo admitido")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise Problem(400, "Cuerpo no válido", "El JSON está anidado demasiado", slug="json-no-valido") from None
    except json.JSONDecodeError:
        return
    except ValueError:
        # Valid JSON Python refuses to convert: an integer of more digits than
        # sys.get_int_max_str_digits() allows.
        raise Problem(400, "Cuerpo no válido", "El JSON contiene un número demasiado largo",
                      slug="json-no-valido") from None
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise Problem(400, "Cuerpo no válido", "El JSON contiene texto Unicode no válido",
                      slug="json-no-valido") from None
    except RecursionError:
        raise Problem(400, "Cuerpo no válido", "El JSON está anidado demasiado", slug="json-no-valido") from None


def application_problem(exc: ApplicationError) -> Problem:
    """The problem document of a use case's refusal."""
    return Problem(exc.status, exc.title, exc.detail, slug=exc.slug, errores=getattr(exc, "errores", None),
                   **exc.extra)


ProblemFor = Callable[[Exception], Problem]


def create_service_app(
    service: str, title: str, description: str, state: ServiceState,
    health_checks: dict[str, Callable[[], dict | None]],
    problems: dict[type[Exception], ProblemFor] | None = None,
) -> tuple[Flask, ProblemApi]:
    """The Flask app of one service. ``problems`` maps the service's own
    domain errors to their problem documents; with the application errors
    (``common.errors``) they are answered here, once, for every view."""
    if not title.isascii():
        # Client generators make the package name of the title; a non-ASCII
        # one gives a name pip refuses to install.
        raise ValueError(f"the API title must be ASCII: {title!r}")
    app = Flask(service)
    app.url_map.converters["cuenta"] = AccountIdConverter
    app.config.update(
        MAX_CONTENT_LENGTH=state.settings.max_body_bytes,
        API_TITLE=title,
        API_VERSION="1.0.0",
        # 3.1: its schemas are JSON Schema, so a nullable reference is
        # ``anyOf: [$ref, {type: null}]`` and generators type it as the
        # referenced model or None (3.0's ``nullable`` beside a ``$ref``
        # is ignored, and apispec's 3.0 form matches any object).
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/",
        API_SPEC_OPTIONS={"info": {"description": f"{description}\n{CONVENTIONS}"}},
    )
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    app.extensions["incidencias"] = state
    api = ProblemApi(app, spec_kwargs={"extra_plugins": [ContractPlugin()]})
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )

    @app.before_request
    def _correlation_and_content_type():
        incoming = request.headers.get("X-Correlation-ID", "")
        g.correlation_token = set_correlation_id(incoming if _CORRELATION_ID.match(incoming) else None)
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        if request.method in ("POST", "PUT", "PATCH") and (request.content_length or chunked):
            if not request.is_json:
                raise Problem(415, "Tipo de contenido no admitido", "Envíe el cuerpo como application/json",
                              slug="tipo-no-admitido")
            _refuse_unstorable_json()

    @app.after_request
    def _echo_correlation(response):
        response.headers["X-Correlation-ID"] = current_correlation_id() or ""
        return response

    @app.teardown_request
    def _reset(_exc):
        token = g.pop("correlation_token", None)
        if token is not None:
            reset_correlation_id(token)

    @app.errorhandler(Problem)
    def _problem(problem: Problem):
        return problem.response()

    @app.errorhandler(ApplicationError)
    def _refused(exc: ApplicationError):
        return application_problem(exc).response()

    for error_type, to_problem in (problems or {}).items():
        app.register_error_handler(error_type, lambda exc, to_problem=to_problem: to_problem(exc).response())

    @app.errorhandler(StorageUnavailable)
    def _storage_down(exc: StorageUnavailable):
        log.error("storage unavailable: %s", exc)
        return Problem(503, "Servicio no disponible", "El almacenamiento no está disponible; reintente",
                       slug="almacenamiento-no-disponible", headers={"Retry-After": "5"}).response()

    @app.errorhandler(InvalidData)
    def _unstorable(exc: InvalidData):
        # What the database can never take as it is (too large for a
        # document, a value it cannot encode): no retry helps, so not a 503.
        log.warning("storage refused the data: %s", exc)
        return Problem(422, "Datos no válidos", "Los datos no se pueden guardar tal como vienen",
                       slug="datos-no-almacenables",
                       errores=[{"campo": "(cuerpo)", "mensaje": "No se puede guardar tal como viene",
                                 "ubicacion": "cuerpo"}]).response()

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return api.handle_http_exception(exc)
        log.exception("unhandled error: %s", exc)
        return Problem(500, "Error interno", "Error inesperado; el equipo ha sido avisado",
                       slug="error-interno").response()

    init_metrics(app, service)
    api.register_blueprint(health_blueprint(service, health_checks))
    api.register_blueprint(metrics_blueprint())
    return app, api


def build_service_app(settings: Settings, build: Callable[[Any], ServiceState], title: str, description: str,
                      blueprints: list, problems: dict[type[Exception], ProblemFor] | None = None
                      ) -> tuple[Flask, ProblemApi]:
    """A service's application factory, all but what is its own: logs, the
    components (``build(settings)``, in this process), the app with its
    readiness checks, its error mapping and its blueprints."""
    configure_logging(settings.service_name, settings.log_level)
    state = build(settings)
    app, api = create_service_app(settings.service_name, title, description, state,
                                  readiness_checks(settings, state.store), problems)
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    return app, api
