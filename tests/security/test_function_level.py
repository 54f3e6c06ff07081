"""Function-level authorization: every endpoint of every service, called by
every role (anonymous, cliente, agente, supervisor, admin), against the
permission table in ``permissions.py``, which is itself checked against the
live OpenAPI documents, the code and ``docs/security.md``.

The calls are harmless: a role the table admits sends a body (or a page
size) the schema refuses, so it gets 422 after passing the role check and
before anything runs; a read is a real read. A role the table refuses must
get 401 or 403 whatever it sends.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from .figures import DOC_PATH
from .permissions import (
    APP_NAMES,
    INFRASTRUCTURE,
    PERMISSIONS,
    expected_status,
    flask_path,
    live_keys,
)
from .world import ROLES, problem

pytestmark = [pytest.mark.security, pytest.mark.slow]

PROBE = {"__sonda__": True}  # unknown field: any body schema refuses it (422)


def _operation(openapi, key):
    service, method, path = key
    return openapi[service]["paths"][path][method.lower()]


def _fill(path: str, world) -> str:
    values = {
        "cliente_id": world.c1.id,
        "empleado_id": world.a1.id,  # agents may only name themselves: a1 is the agent role's actor
        "incidencia_id": world.incidents["leer"],
        "notificacion_id": world.notifications[0],
        "respuesta_id": world.respuesta,
        "etiqueta": "sonda",  # a staff-only tag on the incident "leer": put on, taken off, both harmless
    }
    return re.sub(r"{([^}]+)}", lambda m: values[m.group(1)], path)


def _token(world, rol: str | None) -> str | None:
    return {None: None, "cliente": world.c1, "agente": world.a1, "supervisor": world.supervisor,
            "admin": world.admin}[rol].token if rol else None


def test_every_live_endpoint_has_an_expectation_and_nothing_else_does(openapi):
    live = live_keys(openapi)
    missing = sorted(live - set(PERMISSIONS))
    stale = sorted(set(PERMISSIONS) - live)
    assert not missing, f"endpoints with no expectation in tests/security/permissions.py: {missing}"
    assert not stale, f"expectations for endpoints the services no longer serve: {stale}"


def test_openapi_declares_auth_exactly_where_the_code_requires_it(openapi):
    wrong = []
    for key, allowed in PERMISSIONS.items():
        declared = bool(_operation(openapi, key).get("security"))
        if declared != (allowed is not None):
            wrong.append((key, "declared" if declared else "not declared"))
    assert not wrong, wrong


def _apps():
    from clientes.app import create_app as clientes_app
    from clientes.config import ClientesSettings
    from empleados.app import create_app as empleados_app
    from empleados.config import EmpleadosSettings
    from incidencias_apertura.app import create_app as apertura_app
    from incidencias_apertura.config import AperturaSettings
    from incidencias_resolucion.app import create_app as resolucion_app
    from incidencias_resolucion.config import ResolucionSettings

    # Built in this process only to read their routes: SQLite in a
    # temporary directory (never a MONGO_URL from the environment), no admin.
    base = Path(tempfile.mkdtemp(prefix="security-apps-"))
    common = {"data_dir": base / "data", "keys_dir": base / "keys", "mongo_url": None}
    yield clientes_app(ClientesSettings(**common))
    yield empleados_app(EmpleadosSettings(**common, admin_email=None, admin_password=None))
    yield apertura_app(AperturaSettings(**common))
    yield resolucion_app(ResolucionSettings(**common))


def _code_permissions():
    """(service, METHOD, path) -> the roles ``requires`` admits, read from the views."""
    found, unlisted = {}, []
    for app in _apps():
        service = APP_NAMES[app.name]
        for rule in app.url_map.iter_rules():
            path = flask_path(rule.rule)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if path in INFRASTRUCTURE:
                    unlisted.append((service, method, path, getattr(app.view_functions[rule.endpoint],
                                                                    "_required_roles", None)))
                    continue
                roles = getattr(app.view_functions[rule.endpoint], "_required_roles", None)
                found[(service, method, path)] = tuple(roles) if roles is not None else None
    return found, unlisted


def test_the_table_is_what_the_code_requires_and_every_route_is_documented(openapi):
    code, infrastructure = _code_permissions()
    assert code == PERMISSIONS
    # Every route outside the OpenAPI documents is plumbing, and public.
    assert all(roles is None for *_route, roles in infrastructure), infrastructure
    assert set(code) == live_keys(openapi), "a route is served but missing from /openapi.json"


def _doc_table() -> dict:
    rows = {}
    text = DOC_PATH.read_text()
    section = text.split("## Permission table", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        match = re.match(r"^\|\s*(\w+)\s*\|\s*`(GET|POST|PATCH|PUT|DELETE) ([^`]+)`\s*\|\s*([^|]+)\|", line)
        if match:
            service, method, path, roles = match.groups()
            roles = roles.strip()
            rows[(service, method, path)] = None if roles == "public" else tuple(
                r.strip() for r in roles.split(","))
    return rows


def test_the_documented_table_is_the_code(openapi):
    assert _doc_table() == PERMISSIONS


@pytest.mark.parametrize("key", sorted(PERMISSIONS), ids=lambda k: f"{k[0]} {k[1]} {k[2]}")
def test_every_role_gets_what_the_table_says(world, client, openapi, attacks, key):
    service, method, path = key
    operation = _operation(openapi, key)
    recorder = attacks("function_level")
    for rol in ROLES:
        expected = expected_status(key, rol)
        token = _token(world, rol)
        kwargs = {}
        if "requestBody" in operation:
            kwargs["json"] = PROBE
        elif any(p["name"] == "por_pagina" for p in operation.get("parameters", [])):
            kwargs["params"] = {"por_pagina": 0}
        if key == ("clientes", "DELETE", "/clientes/yo") and rol == "cliente":
            token = client.new_cliente("Borrable").token  # the one call that would really delete
        response = client.call(method, service, _fill(path, world), token, **kwargs)
        name = f"{method} {service}{path} as {rol or 'anonymous'}"
        if expected == "allow":
            # A control, not an attack: the role passes the check and the
            # request is judged on its content.
            if kwargs:  # the probe body or page size is refused on its own
                answer = 422
            else:  # the operation's one documented success
                (answer,) = [int(status) for status in operation["responses"] if status.startswith("2")]
            assert response.status_code == answer, (name, response.status_code, response.text[:300])
            continue
        recorder.expect(name, response, expected)
        if response.status_code == 401:
            assert response.headers.get("WWW-Authenticate", "").startswith("Bearer"), name
            assert problem(response)["type"].endswith("no-autenticado"), name
    recorder.check()


@pytest.mark.parametrize("service", ["clientes", "empleados", "apertura", "resolucion"])
def test_plumbing_routes_are_public_and_reveal_no_data(client, attacks, service):
    """The documents and probes answer anyone (that is their job), and give
    away nothing else: no source file through the static folder, no
    credentials in the readiness details."""
    rec = attacks("hostile_ids")
    for path in ("/openapi.json", "/docs", "/salud", "/salud/vivo", "/metrics"):
        response = client.call("GET", service, path)
        assert response.status_code == 200, (path, response.status_code)
    for path in ("/static/..%2f..%2fcommon%2fconfig.py", "/static/%2e%2e/%2e%2e/common/config.py",
                 "/static/..%5c..%5ccommon%5cconfig.py", "/static/%2fetc%2fpasswd", "/static/.env"):
        response = client.call("GET", service, path, follow_redirects=True)  # Werkzeug merges slashes (308)
        rec.record(f"{service} GET {path}", response.status_code == 404 and "pydantic" not in response.text
                   and "root:" not in response.text, str(response.status_code))
    text = client.call("GET", service, "/salud").text
    assert "password" not in text.lower() and "guest:guest" not in text
    rec.check()
