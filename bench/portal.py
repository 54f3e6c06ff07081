"""Signing in to the portal the way a browser does, so the benchmark can ask
for its pages: the login form's CSRF token, then the session cookie."""
from __future__ import annotations

import re

import httpx

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
SESSION_COOKIE = "incidencias_sesion"


def session_cookie(portal_url: str, login_path: str, email: str, password: str) -> str:
    """The ``Cookie`` header value of a signed-in session (``/entrar`` for
    customers, ``/equipo/entrar`` for the team)."""
    with httpx.Client(base_url=portal_url, timeout=30, follow_redirects=False) as client:
        form = client.get(login_path)
        form.raise_for_status()
        found = CSRF.search(form.text)
        if found is None:
            raise RuntimeError(f"no csrf_token in {login_path}")
        answer = client.post(login_path, data={"csrf_token": found.group(1) or found.group(2),
                                               "email": email, "password": password})
        if answer.status_code not in (302, 303) or SESSION_COOKIE not in client.cookies:
            raise RuntimeError(f"portal login at {login_path} refused: {answer.status_code}")
        return f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"
