"""Application factory of the portal (``gunicorn 'portal.app:create_app()'``).

Server-rendered pages (Jinja2, autoescaped) over the four services' REST
APIs. What every request gets:

- the session (``portal.auth``) and CSRF protection on every POST
  (Flask-WTF: a hidden ``csrf_token`` in each form, checked against the
  session; a refused one is the 400 page "La página ha caducado");
- security headers (flask-talisman): a strict Content-Security-Policy with no
  inline script or style, ``frame-ancestors 'none'``, Referrer-Policy
  ``same-origin``, ``nosniff``; HTTPS forced only in production;
- one pooled HTTP client per process (``portal.api``), built here, in each
  gunicorn worker after the fork;
- an API that is down or too slow is the 503 page naming it, never a trace.

Live updates are short polling: an open incident page or list asks its
``estado.json`` every second (paused while the tab is hidden), and fetches
the page again only when something changed. Each poll is one short request
like any other (one API call; ``make bench`` measures it as
``portal_live_poll``), so gunicorn's
default sync workers fit: no browser holds a worker between polls, and a
page left open for hours costs the same per minute as in its first one.
Server-sent events would hold a
worker (or need an async worker class) per open page for nothing in between.
"""
from __future__ import annotations

import re

import hashlib
import logging
from pathlib import Path

from flask import Flask, flash, g, jsonify, render_template, request, url_for
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFError, CSRFProtect
from jinja2 import select_autoescape
from werkzeug.exceptions import HTTPException

from common.context import reset_correlation_id, set_correlation_id
from common.logs import configure_logging
from incidencias_dominio import NOMBRE_ANONIMO

from . import auth, charts, display
from .api import ApiClient, ServiceUnavailable, SessionEnded
from .config import PortalSettings
from .pages import form_key_for

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": ["'self'", "data:"],
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'none'",
}
PERMISSIONS_POLICY = {"camera": "()", "microphone": "()", "geolocation": "()", "payment": "()"}


class Portal:
    """What the factory builds once per process."""

    def __init__(self, settings: PortalSettings, api: ApiClient):
        self.settings = settings
        self.api = api


def _static_versions() -> dict[str, str]:
    """A short digest of each static file, appended to its URL so a new
    version is fetched at once while an unchanged one is cached."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:10] for p in STATIC.iterdir() if p.is_file()}


def create_app(settings: PortalSettings | None = None, transport=None) -> Flask:
    """``transport``: an ``httpx`` transport for the API client (tests only)."""
    settings = settings or PortalSettings()
    configure_logging(settings.service_name, settings.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per API call is the services' own log
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config.update(
        SECRET_KEY=settings.secret_key(),
        SESSION_COOKIE_NAME="incidencias_sesion",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.portal_secure_cookies,
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the session: a page left open still submits
        MAX_CONTENT_LENGTH=256 * 1024,
        SEND_FILE_MAX_AGE_DEFAULT=86400,
        TEMPLATES_AUTO_RELOAD=settings.environment == "development",
    )
    app.jinja_env.autoescape = select_autoescape(default=True, default_for_string=True)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.extensions["portal"] = Portal(settings, ApiClient(settings.api_urls, settings.portal_api_timeout, transport))

    CSRFProtect(app)
    production = settings.environment == "production"
    talisman = Talisman(
        app, force_https=production and settings.portal_secure_cookies,
        strict_transport_security=production and settings.portal_secure_cookies, frame_options="DENY",
        content_security_policy=CSP, referrer_policy="same-origin", permissions_policy=PERMISSIONS_POLICY,
        session_cookie_secure=settings.portal_secure_cookies, session_cookie_http_only=True,
        x_content_type_options=True,
    )

    # Their pages join the two blueprints.
    from . import (  # noqa: F401
        cuenta, equipo_avisos, equipo_clientes, equipo_cuenta, equipo_estadisticas, equipo_respuestas, equipo_sla,
    )
    from .cliente import bp as cliente
    from .equipo import bp as equipo

    app.register_blueprint(cliente)
    app.register_blueprint(equipo, url_prefix="/equipo")
    _health(app, talisman)
    _request_context(app)
    _template_helpers(app, settings)
    _error_pages(app)
    return app


def _health(app: Flask, talisman: Talisman) -> None:
    @app.get("/salud/vivo")
    @talisman(force_https=False)
    def liveness():
        return jsonify(servicio="portal", estado="vivo")

    @app.get("/salud")
    @talisman(force_https=False)
    def readiness():
        client = app.extensions["portal"].api
        results = {name: {"estado": "ok" if client.alive(name) else "no disponible"} for name in client.urls}
        ready = all(r["estado"] == "ok" for r in results.values())
        body = {"servicio": "portal", "estado": "listo" if ready else "no listo", "comprobaciones": results}
        return jsonify(body), 200 if ready else 503


# The services' own rule (common.http.app): ASCII only, since it travels in HTTP headers to them.
CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{8,100}")


def _request_context(app: Flask) -> None:
    @app.before_request
    def _correlation():
        incoming = request.headers.get("X-Correlation-ID", "")
        valid = CORRELATION_ID.fullmatch(incoming) is not None
        request.environ["portal.correlation"] = set_correlation_id(incoming if valid else None)

    @app.after_request
    def _no_cache_for_pages(response):
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.teardown_request
    def _reset(_exc):
        token = request.environ.pop("portal.correlation", None)
        if token is not None:
            reset_correlation_id(token)


def _template_helpers(app: Flask, settings: PortalSettings) -> None:
    from .cuenta import aviso_verificacion

    versions = _static_versions()

    def static(filename: str) -> str:
        return url_for("static", filename=filename, v=versions.get(filename))

    def no_leidas() -> int | None:
        """The signed-in customer's unread notifications (None when unknown)."""
        if "no_leidas" not in g:
            g.no_leidas = None
            if g.get("unavailable") == "apertura":
                return None  # the 503 page of that very service: not asked again
            try:
                answer = auth.call("apertura", "GET", "/notificaciones", params={"no_leidas": "true",
                                                                                 "por_pagina": 1})
                if answer.ok:
                    g.no_leidas = int(answer.data.get("total", 0))
            except (ServiceUnavailable, SessionEnded):
                pass  # the page's own calls tell what is wrong
        return g.no_leidas

    def avisos_no_leidos() -> int | None:
        """The signed-in employee's unread warnings (None when unknown): one
        indexed count on resolucion per console page."""
        if "avisos_no_leidos" not in g:
            g.avisos_no_leidos = None
            if g.get("unavailable") == "resolucion":
                return None
            try:
                answer = auth.call("resolucion", "GET", "/notificaciones", params={"no_leidas": "true",
                                                                                   "por_pagina": 1})
                if answer.ok:
                    g.avisos_no_leidos = int(answer.data.get("total", 0))
            except (ServiceUnavailable, SessionEnded):
                pass
        return g.avisos_no_leidos

    def estado(value: str | None) -> str:
        """A state in the words of the area the page is of: the customer's own, or staff's."""
        return display.estado(value, cliente=request.blueprint != "equipo")

    app.jinja_env.globals.update(
        static=static, no_leidas=no_leidas, avisos_no_leidos=avisos_no_leidos, aviso_verificacion=aviso_verificacion,
        persona_actual=auth.current,
        categorias=settings.categorias,
        ESTADOS=display.ESTADOS, ESTADOS_CLIENTE=display.ESTADOS_CLIENTE, PRIORIDADES=display.PRIORIDADES,
        ROLES=display.ROLES, OBJETIVOS=display.OBJETIVOS, SLA=display.SLA, SLA_FILTROS=display.SLA_FILTROS,
        PREGUNTAS=display.PREGUNTAS, CERRADA=display.CERRADA, PUNTUACIONES=display.PUNTUACIONES,
        AVISOS=display.AVISOS, AVISO_SLA=display.AVISO_SLA, METER_WIDTH=charts.METER_WIDTH,
        METER_HEIGHT=charts.METER_HEIGHT,
        ORDENES=display.ORDENES, ordenes=display.ordenes, CANALES=display.CANALES, NOMBRE_ANONIMO=NOMBRE_ANONIMO,
        clave_formulario=form_key_for,
    )
    app.jinja_env.filters.update(
        estado=estado, prioridad=display.prioridad, categoria=display.categoria, rol=display.rol,
        minutos=display.minutes, sla=display.sla_estado, peor_plazo=display.worst_target,
        dias_laborables=display.weekdays, dia=display.day, instante=display.instant, duracion=display.duration,
        cifra=charts.figure, semana=display.week_of, puntuacion=display.puntuacion, aviso=display.aviso,
        porcentaje=display.percent,
    )


def _wants_json() -> bool:
    return request.path.endswith(".json")


def _area() -> str:
    return auth.EQUIPO if request.path.startswith("/equipo") else auth.CLIENTE


def _error_pages(app: Flask) -> None:
    @app.errorhandler(SessionEnded)
    def _session_ended(_exc):
        if _wants_json():
            auth.sign_out()
            flash(auth.SESION_TERMINADA, "info")  # shown once the page reloads into the login
            return jsonify(error="sesion-terminada"), 401
        return auth.end_session(_area())

    @app.errorhandler(ServiceUnavailable)
    def _unavailable(exc: ServiceUnavailable):
        g.unavailable = exc.service
        if _wants_json():
            return jsonify(error="no-disponible", servicio=exc.service), 503, {"Retry-After": "5"}
        nombre = display.SERVICIOS.get(exc.service, "Un servicio")
        return (render_template("error.html", codigo=503, titulo="Servicio no disponible", servicio=nombre,
                                area=_area()),
                503, {"Retry-After": "5"})

    @app.errorhandler(CSRFError)
    def _csrf(_exc):
        return render_template("error.html", codigo=400, titulo="La página ha caducado", area=_area()), 400

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if _wants_json():
            return jsonify(error=exc.name), exc.code
        return render_template("error.html", codigo=exc.code, titulo=exc.name, area=_area()), exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        if _wants_json():
            return jsonify(error="error-interno"), 500
        return render_template("error.html", codigo=500, titulo="Error", area=_area()), 500
