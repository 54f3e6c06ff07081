"""Who is signed in, and the calls made in their name.

The session is Flask's signed cookie (``incidencias_sesion``: HttpOnly,
SameSite=Lax, Secure when ``portal_secure_cookies``). It holds the API token
the person's account service issued, when that token expires, the person's
id, role and display name, and the area the session belongs to: ``cliente``
(the customers' pages) or ``equipo`` (the team's console). The token never
reaches a page, a URL or the browser's storage; only the signed cookie
carries it, and scripts cannot read that cookie.

A session ends on logout, when its token expires, and whenever a service
answers 401 to its token (the account was deleted, deactivated or given
another role): the person is sent to the area's login page with
``SESION_TERMINADA``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, Callable, Mapping

from flask import current_app, flash, g, jsonify, redirect, request, session, url_for
from werkzeug.exceptions import Forbidden

from common.context import current_correlation_id
from common.http.login import client_address

from .api import Answer, ApiClient, SessionEnded

CLIENTE = "cliente"
EQUIPO = "equipo"
LOGIN_PAGES = {CLIENTE: "cliente.entrar", EQUIPO: "equipo.entrar"}
SESION_TERMINADA = "Su sesión ha terminado; vuelva a entrar"
EXPIRY_MARGIN = 10  # seconds: a token this close to expiring is treated as expired


@dataclass(frozen=True)
class Persona:
    id: str
    nombre: str
    rol: str
    area: str
    token: str = field(repr=False)  # never in a log line or a debug page
    expira: float

    @property
    def caducada(self) -> bool:
        return time.time() >= self.expira


def api() -> ApiClient:
    return current_app.extensions["portal"].api


def sign_in(area: str, token: str, expires_in: int, cuenta: Mapping[str, Any]) -> Persona:
    """Start a session for the account ``cuenta`` (its ``/yo`` answer) of ``area``.
    The session is cleared first: nothing of a previous one carries over,
    not even its CSRF token."""
    session.clear()
    nombre = f"{cuenta.get('nombre') or ''} {cuenta.get('apellidos') or ''}".strip() or str(cuenta.get("email"))
    session.update(
        area=area, token=token, expira=time.time() + max(0, int(expires_in) - EXPIRY_MARGIN),
        id=str(cuenta["id"]), rol=str(cuenta.get("rol") or CLIENTE), nombre=nombre,
    )
    return current()  # type: ignore[return-value]


def sign_out() -> None:
    session.clear()


def rename(nombre: str) -> None:
    """The display name changed (the person edited their profile)."""
    session["nombre"] = nombre


def current() -> Persona | None:
    """The signed-in person, or None (no session, or one missing a part)."""
    try:
        return Persona(id=session["id"], nombre=session["nombre"], rol=session["rol"], area=session["area"],
                       token=session["token"], expira=float(session["expira"]))
    except (KeyError, TypeError, ValueError):
        return None


def _here() -> str | None:
    """Where to come back to after signing in again (a page, never a form's target)."""
    return request.full_path.rstrip("?") if request.method == "GET" else None


def end_session(area: str):
    """The session is over: cleared, and the area's login page says so."""
    sign_out()
    flash(SESION_TERMINADA, "info")
    return redirect(url_for(LOGIN_PAGES[area], siguiente=_here()))


def requires(area: str, roles: tuple[str, ...] | None = None) -> Callable:
    """The view needs a live session of ``area`` (and one of ``roles``).
    Anyone else goes to that area's login page (a customer's session never
    opens a team page, nor the other way round); an expired session ends;
    a role not allowed gets the 403 page."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            persona = current()
            polled = request.path.endswith(".json")  # asked by the page's script: it reloads on 401
            if persona is None or persona.area != area:
                if polled:
                    return jsonify(error="sin-sesion"), 401
                return redirect(url_for(LOGIN_PAGES[area], siguiente=_here()))
            if persona.caducada:
                if polled:
                    sign_out()
                    flash(SESION_TERMINADA, "info")
                    return jsonify(error="sesion-terminada"), 401
                return end_session(area)
            if roles and persona.rol not in roles:
                raise Forbidden()
            g.persona = persona
            return view(*args, **kwargs)

        return wrapper

    return decorator


def persona() -> Persona:
    """The person of the current view (set by ``requires``; outside such a
    view, an error page say, the session's)."""
    found = g.get("persona") or current()
    if found is None:
        raise SessionEnded()
    return found


def _headers(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    headers = {"X-Correlation-ID": current_correlation_id() or ""}
    headers.update(extra or {})
    return headers


def call(service: str, method: str, path: str, **kwargs: Any) -> Answer:
    """A call in the signed-in person's name, with their own token."""
    headers = _headers(kwargs.pop("headers", None))
    return api().call(service, method, path, token=persona().token, headers=headers, **kwargs)


def anonymous_call(service: str, method: str, path: str, **kwargs: Any) -> Answer:
    """A call without a token (logins, registration). The browser's address
    goes along: the services throttle failed logins per client address, and
    the portal is the peer they see."""
    headers = _headers({"X-Forwarded-For": client_address(), **(kwargs.pop("headers", None) or {})})
    return api().call(service, method, path, headers=headers, **kwargs)
