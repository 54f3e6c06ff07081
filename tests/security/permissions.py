"""Who may call what: the permission table as the code implements it.

``PERMISSIONS`` maps every operation of every service's OpenAPI document to
the roles its ``requires(...)`` decorator admits (``None``: public). The
tests check it three ways: against the live ``/openapi.json`` of each
service (no endpoint may lack an expectation), against the
``_required_roles`` the decorator leaves on each view (the code), and
against the table in ``docs/security.md`` (the documentation).
"""
from __future__ import annotations

import re
from typing import Any, Iterator

STAFF = ("agente", "supervisor", "admin")
MANAGERS = ("supervisor", "admin")

Key = tuple[str, str, str]  # (service, METHOD, /path/{param})

PERMISSIONS: dict[Key, tuple[str, ...] | None] = {
    ("clientes", "POST", "/clientes"): None,
    ("clientes", "POST", "/clientes/login"): None,
    ("clientes", "POST", "/clientes/verificacion"): None,
    ("clientes", "POST", "/clientes/password/solicitud"): None,
    ("clientes", "POST", "/clientes/password/restablecimiento"): None,
    ("clientes", "POST", "/clientes/email/confirmacion"): None,
    ("clientes", "GET", "/.well-known/jwks.json"): None,
    ("clientes", "POST", "/clientes/invitacion/aceptacion"): None,
    ("clientes", "POST", "/clientes/invitacion"): STAFF,
    ("clientes", "GET", "/clientes"): STAFF,
    ("clientes", "GET", "/clientes/yo"): ("cliente",),
    ("clientes", "PATCH", "/clientes/yo"): ("cliente",),
    ("clientes", "DELETE", "/clientes/yo"): ("cliente",),
    ("clientes", "POST", "/clientes/yo/verificacion/reenvio"): ("cliente",),
    ("clientes", "GET", "/clientes/{cliente_id}"): ("cliente", *STAFF),
    ("empleados", "POST", "/empleados/login"): None,
    ("empleados", "POST", "/empleados/invitacion/aceptacion"): None,
    ("empleados", "POST", "/empleados/password/solicitud"): None,
    ("empleados", "POST", "/empleados/password/restablecimiento"): None,
    ("empleados", "GET", "/.well-known/jwks.json"): None,
    ("empleados", "POST", "/empleados"): ("admin",),
    ("empleados", "GET", "/empleados"): MANAGERS,
    ("empleados", "GET", "/empleados/yo"): STAFF,
    ("empleados", "PATCH", "/empleados/yo"): STAFF,
    ("empleados", "GET", "/empleados/{empleado_id}"): STAFF,
    ("empleados", "PATCH", "/empleados/{empleado_id}"): STAFF,
    ("empleados", "POST", "/empleados/{empleado_id}/baja"): ("admin",),
    ("apertura", "POST", "/incidencias"): ("cliente",),
    ("apertura", "POST", "/clientes/{cliente_id}/incidencias"): STAFF,
    ("apertura", "GET", "/incidencias"): ("cliente",),
    ("apertura", "GET", "/incidencias/{incidencia_id}"): ("cliente",),
    ("apertura", "POST", "/incidencias/{incidencia_id}/comentarios"): ("cliente",),
    ("apertura", "POST", "/incidencias/{incidencia_id}/cierre"): ("cliente",),
    ("apertura", "POST", "/incidencias/{incidencia_id}/reapertura"): ("cliente",),
    ("apertura", "POST", "/incidencias/{incidencia_id}/cancelacion"): ("cliente",),
    ("apertura", "POST", "/incidencias/{incidencia_id}/valoracion"): ("cliente",),
    ("apertura", "GET", "/notificaciones"): ("cliente",),
    ("apertura", "POST", "/notificaciones/{notificacion_id}/lectura"): ("cliente",),
    ("apertura", "POST", "/notificaciones/lectura"): ("cliente",),
    ("resolucion", "GET", "/incidencias"): STAFF,
    ("resolucion", "GET", "/incidencias/{incidencia_id}"): STAFF,
    ("resolucion", "PATCH", "/incidencias/{incidencia_id}"): STAFF,
    ("resolucion", "POST", "/incidencias/{incidencia_id}/asignacion"): STAFF,
    ("resolucion", "POST", "/incidencias/{incidencia_id}/inicio"): STAFF,
    ("resolucion", "POST", "/incidencias/{incidencia_id}/resolucion"): STAFF,
    ("resolucion", "POST", "/incidencias/{incidencia_id}/consulta"): STAFF,
    ("resolucion", "POST", "/incidencias/{incidencia_id}/comentarios"): STAFF,
    ("resolucion", "PUT", "/incidencias/{incidencia_id}/etiquetas/{etiqueta}"): STAFF,
    ("resolucion", "DELETE", "/incidencias/{incidencia_id}/etiquetas/{etiqueta}"): STAFF,
    ("resolucion", "GET", "/etiquetas"): STAFF,
    ("resolucion", "POST", "/incidencias/lote"): MANAGERS,
    ("resolucion", "POST", "/incidencias/{incidencia_id}/fusion"): MANAGERS,
    ("resolucion", "GET", "/estadisticas"): STAFF,
    ("resolucion", "GET", "/estadisticas/informe.csv"): STAFF,
    ("resolucion", "GET", "/respuestas"): STAFF,
    ("resolucion", "POST", "/respuestas"): MANAGERS,
    ("resolucion", "GET", "/respuestas/{respuesta_id}"): STAFF,
    ("resolucion", "PATCH", "/respuestas/{respuesta_id}"): MANAGERS,
    ("resolucion", "POST", "/respuestas/{respuesta_id}/retirada"): MANAGERS,
    ("resolucion", "GET", "/sla"): STAFF,
    ("resolucion", "PUT", "/sla"): ("admin",),
    ("resolucion", "GET", "/notificaciones"): STAFF,
    ("resolucion", "POST", "/notificaciones/{notificacion_id}/lectura"): STAFF,
}
# Every service also serves its probes and metrics, documented and public.
for _service in ("clientes", "empleados", "apertura", "resolucion"):
    for _path in ("/salud", "/salud/vivo", "/metrics"):
        PERMISSIONS[(_service, "GET", _path)] = None

# Routes every service has outside its OpenAPI document: the document
# itself, its interactive viewer and Flask's static folder (empty).
INFRASTRUCTURE = {"/openapi.json", "/docs", "/static/{filename}"}

# Services that verify tokens only of one issuer: a token of the other
# issuer is not a token there at all (401, not 403).
ONLY_STAFF_TOKENS = {"empleados"}

APP_NAMES = {"clientes": "clientes", "empleados": "empleados",
             "incidencias_apertura": "apertura", "incidencias_resolucion": "resolucion"}


def expected_status(key: Key, rol: str | None) -> str | int:
    """``"allow"``, 401 or 403 for a valid token of ``rol`` (None: no token)."""
    allowed = PERMISSIONS[key]
    if allowed is None:
        return "allow"
    if rol is None:
        return 401
    if rol in allowed:
        return "allow"
    if key[0] in ONLY_STAFF_TOKENS and rol == "cliente":
        return 401
    return 403


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), path, operation


def live_keys(openapi: dict[str, dict]) -> set[Key]:
    return {(service, method, path) for service, document in openapi.items()
            for method, path, _op in operations(document)}


def flask_path(rule: str) -> str:
    """``/incidencias/<incidencia_id>`` as OpenAPI writes it."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def path_parameters(path: str) -> list[str]:
    return re.findall(r"{([^}]+)}", path)
