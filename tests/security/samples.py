"""A valid request for every operation that takes a JSON body, aimed where
even an accidental success would change nothing that matters (a closed
incident, an employee kept for the purpose), and a snapshot of what an
attack through that operation must not change.

The hostile tests never send these bodies as they are: they add a field,
replace a value or bury the body, and expect the request refused before it
does anything. The snapshot proves it did nothing.
"""
from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from harness import CLIENTE_PASSWORD, EMPLEADO_PASSWORD, Account

from .world import World
from .permissions import Key


@dataclass
class Sample:
    actor: Account | None
    path: str  # with the parameters filled in
    body: dict[str, Any]
    snapshot: Callable[[], Any]


@dataclass
class Targets:
    """Accounts of their own for the hostile tests, so that nothing they
    try can disturb the other tests' world."""

    cliente: Account
    empleado: Account


def _json(response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def body_samples(world: World, targets: Targets) -> dict[Key, Sample]:
    client, admin = world.client, world.admin
    cliente, empleado = targets.cliente, targets.empleado
    closed = world.incidents["cerrada"]
    marker = uuid.uuid4().hex[:10]
    new_email = f"masiva.{marker}@example.com"
    # Link tokens of the targets' accounts, of the right shape but never
    # issued: even if one were taken, it would verify or set nothing.
    cliente_link = f"{cliente.id}.{secrets.token_urlsafe(32)}"
    empleado_link = f"{empleado.id}.{secrets.token_urlsafe(32)}"

    def customers_with(email: str) -> Callable[[], Any]:
        return lambda: _json(client.call("GET", "clientes", "/clientes", admin.token, params={"q": email}))["total"]

    def employees_with(email: str) -> Callable[[], Any]:
        return lambda: _json(client.call("GET", "empleados", "/empleados", admin.token, params={"q": email}))["total"]

    def profile() -> Any:
        return _json(client.call("GET", "clientes", "/clientes/yo", cliente.token))

    def employee() -> Any:
        return _json(client.call("GET", "empleados", f"/empleados/{empleado.id}", admin.token))

    def incident() -> Any:
        return world.state_of(closed)

    def my_incidents() -> Any:
        return _json(client.call("GET", "apertura", "/incidencias", world.c1.token))["total"]

    oldest_notification = world.notifications[-1]
    invited_email = f"invitada.{marker}@example.com"

    def incidents_of_target() -> Any:
        return _json(client.call("GET", "resolucion", "/incidencias", admin.token,
                                 params={"cliente_id": cliente.id}))["total"]

    def canned_replies() -> Any:
        return _json(client.call("GET", "resolucion", "/respuestas", admin.token,
                                 params={"incluir_retiradas": "true", "por_pagina": 100}))

    def canned_reply() -> Any:
        return _json(client.call("GET", "resolucion", f"/respuestas/{world.respuesta}", admin.token))

    def unread() -> Any:
        items = _json(client.call("GET", "apertura", "/notificaciones", world.c1.token,
                                  params={"por_pagina": 100}))["elementos"]
        return [n["leida"] for n in items if n["id"] == oldest_notification]

    staff_notification = world.add_staff_notification(empleado)

    def staff_unread() -> Any:
        items = _json(client.call("GET", "resolucion", "/notificaciones", empleado.token,
                                  params={"por_pagina": 100}))["elementos"]
        return [n["leida"] for n in items if n["id"] == staff_notification]

    def policy() -> Any:
        return _json(client.call("GET", "resolucion", "/sla", admin.token))

    def nothing() -> Any:
        return None

    return {
        ("clientes", "POST", "/clientes"): Sample(None, "/clientes", {
            "nombre": "Nuevo", "apellidos": "Cliente", "email": new_email, "password": CLIENTE_PASSWORD,
            "fecha_nacimiento": "1990-07-26", "direccion": "Calle Mayor 1", "telefono": "+34 600 000 000",
        }, customers_with(new_email)),
        ("clientes", "POST", "/clientes/login"): Sample(
            None, "/clientes/login", {"email": cliente.email, "password": "no-es-la-clave-1"}, nothing),
        ("clientes", "PATCH", "/clientes/yo"): Sample(
            cliente, "/clientes/yo", {"nombre": "Otro", "telefono": "+34 611 111 111"}, profile),
        ("clientes", "POST", "/clientes/verificacion"): Sample(
            None, "/clientes/verificacion", {"token": cliente_link}, profile),
        ("clientes", "POST", "/clientes/yo/verificacion/reenvio"): Sample(
            cliente, "/clientes/yo/verificacion/reenvio", {}, profile),
        ("clientes", "POST", "/clientes/password/solicitud"): Sample(
            None, "/clientes/password/solicitud", {"email": cliente.email}, nothing),
        ("clientes", "POST", "/clientes/password/restablecimiento"): Sample(
            None, "/clientes/password/restablecimiento", {"token": cliente_link, "password": CLIENTE_PASSWORD},
            profile),
        ("clientes", "POST", "/clientes/email/confirmacion"): Sample(
            None, "/clientes/email/confirmacion", {"token": cliente_link}, profile),
        ("empleados", "POST", "/empleados"): Sample(admin, "/empleados", {
            "nombre": "Nuevo", "apellidos": "Empleado", "email": new_email, "password": EMPLEADO_PASSWORD,
            "rol": "agente", "categorias": ["envios"],
        }, employees_with(new_email)),
        ("empleados", "POST", "/empleados/login"): Sample(
            None, "/empleados/login", {"email": empleado.email, "password": "no-es-la-clave-1"}, nothing),
        ("empleados", "POST", "/empleados/invitacion/aceptacion"): Sample(
            None, "/empleados/invitacion/aceptacion", {"token": empleado_link, "password": EMPLEADO_PASSWORD},
            employee),
        ("empleados", "POST", "/empleados/password/solicitud"): Sample(
            None, "/empleados/password/solicitud", {"email": empleado.email}, nothing),
        ("empleados", "POST", "/empleados/password/restablecimiento"): Sample(
            None, "/empleados/password/restablecimiento", {"token": empleado_link, "password": EMPLEADO_PASSWORD},
            employee),
        ("empleados", "PATCH", "/empleados/yo"): Sample(
            empleado, "/empleados/yo", {"nombre": "Otro", "apellidos": "Nombre"}, employee),
        ("empleados", "PATCH", "/empleados/{empleado_id}"): Sample(
            admin, f"/empleados/{empleado.id}", {"nombre": "Otro", "categorias": ["envios"]}, employee),
        ("empleados", "POST", "/empleados/{empleado_id}/baja"): Sample(
            admin, f"/empleados/{empleado.id}/baja", {}, employee),
        ("apertura", "POST", "/incidencias"): Sample(world.c1, "/incidencias", {
            "titulo": "No enciende", "descripcion": "Nada de nada", "categoria": "otra",
            "producto": {"referencia": "SKU-9", "nombre": "Radio", "pedido": "P-1"}, "pedido": "P-1",
            "prioridad": "alta",
        }, my_incidents),
        ("apertura", "POST", "/incidencias/{incidencia_id}/comentarios"): Sample(
            world.c1, f"/incidencias/{closed}/comentarios", {"texto": "Hola"}, incident),
        ("apertura", "POST", "/incidencias/{incidencia_id}/cierre"): Sample(
            world.c1, f"/incidencias/{closed}/cierre", {}, incident),
        ("apertura", "POST", "/incidencias/{incidencia_id}/reapertura"): Sample(
            world.c1, f"/incidencias/{closed}/reapertura", {"motivo": "Sigue roto"}, incident),
        ("apertura", "POST", "/incidencias/{incidencia_id}/cancelacion"): Sample(
            world.c1, f"/incidencias/{closed}/cancelacion", {"motivo": "Ya no"}, incident),
        ("apertura", "POST", "/notificaciones/{notificacion_id}/lectura"): Sample(
            world.c1, f"/notificaciones/{oldest_notification}/lectura", {}, unread),
        ("apertura", "POST", "/notificaciones/lectura"): Sample(world.c1, "/notificaciones/lectura", {}, unread),
        ("apertura", "POST", "/clientes/{cliente_id}/incidencias"): Sample(admin, f"/clientes/{cliente.id}/incidencias", {
            "titulo": "Llama por la radio", "descripcion": "No enciende", "categoria": "otra",
            "producto": {"referencia": "SKU-9", "nombre": "Radio", "pedido": "P-1"}, "prioridad": "alta",
        }, incidents_of_target),
        ("clientes", "POST", "/clientes/invitacion"): Sample(admin, "/clientes/invitacion", {
            "nombre": "Nueva", "apellidos": "Llamada", "email": invited_email, "telefono": "+34 600 000 001",
            "direccion": "Calle Mayor 2",
        }, customers_with(invited_email)),
        ("clientes", "POST", "/clientes/invitacion/aceptacion"): Sample(
            None, "/clientes/invitacion/aceptacion", {"token": cliente_link, "password": CLIENTE_PASSWORD}, profile),
        # A closed incident merged into itself: refused (409) whoever asks, so the sample changes nothing.
        ("resolucion", "POST", "/incidencias/{incidencia_id}/fusion"): Sample(
            admin, f"/incidencias/{closed}/fusion", {"destino_id": closed}, incident),
        ("resolucion", "POST", "/incidencias/lote"): Sample(
            admin, "/incidencias/lote", {"incidencias": [closed], "accion": "prioridad", "prioridad": "critica"},
            incident),
        ("resolucion", "POST", "/respuestas"): Sample(admin, "/respuestas", {
            "titulo": f"Masiva {marker}", "texto": "Hola {cliente}", "categoria": "otra"}, canned_replies),
        ("resolucion", "PATCH", "/respuestas/{respuesta_id}"): Sample(
            admin, f"/respuestas/{world.respuesta}", {"titulo": "Otro", "texto": "Hola {agente}", "categoria": "otra"},
            canned_reply),
        ("resolucion", "POST", "/respuestas/{respuesta_id}/retirada"): Sample(
            admin, f"/respuestas/{world.respuesta}/retirada", {}, canned_reply),
        ("resolucion", "PATCH", "/incidencias/{incidencia_id}"): Sample(
            admin, f"/incidencias/{closed}", {"prioridad": "critica", "categoria": "otra"}, incident),
        ("resolucion", "POST", "/incidencias/{incidencia_id}/asignacion"): Sample(
            admin, f"/incidencias/{closed}/asignacion", {"empleado_id": world.a2.id}, incident),
        ("resolucion", "POST", "/incidencias/{incidencia_id}/inicio"): Sample(
            admin, f"/incidencias/{closed}/inicio", {}, incident),
        ("resolucion", "POST", "/incidencias/{incidencia_id}/resolucion"): Sample(
            admin, f"/incidencias/{closed}/resolucion", {"texto": "Hecho"}, incident),
        ("resolucion", "POST", "/incidencias/{incidencia_id}/comentarios"): Sample(
            admin, f"/incidencias/{closed}/comentarios", {"texto": "Nota", "interna": True}, incident),
        # A question on a closed incident: refused (409) whoever asks.
        ("resolucion", "POST", "/incidencias/{incidencia_id}/consulta"): Sample(
            admin, f"/incidencias/{closed}/consulta", {"pregunta": "¿Qué modelo es?"}, incident),
        ("apertura", "POST", "/incidencias/{incidencia_id}/valoracion"): Sample(
            world.c1, f"/incidencias/{closed}/valoracion", {"puntuacion": 4, "comentario": "Rápido"}, incident),
        # The one policy there is: an accidental success would show in its snapshot (a new version).
        ("resolucion", "PUT", "/sla"): Sample(admin, "/sla", {
            "calendario": {"zona": "Europe/Madrid", "dias": [0, 1, 2, 3, 4], "desde": "09:00", "hasta": "18:00",
                           "pais": "ES", "region": "MD", "cierres": []},
            "por_prioridad": {"alta": {"primera_respuesta_minutos": 120, "resolucion_minutos": 1080}},
            "por_categoria": {},
        }, policy),
        ("resolucion", "POST", "/notificaciones/{notificacion_id}/lectura"): Sample(
            empleado, f"/notificaciones/{staff_notification}/lectura", {}, staff_unread),
    }


SAMPLE_KEYS: list[Key] = [
    ("clientes", "POST", "/clientes"),
    ("clientes", "POST", "/clientes/login"),
    ("clientes", "PATCH", "/clientes/yo"),
    ("clientes", "POST", "/clientes/verificacion"),
    ("clientes", "POST", "/clientes/yo/verificacion/reenvio"),
    ("clientes", "POST", "/clientes/password/solicitud"),
    ("clientes", "POST", "/clientes/password/restablecimiento"),
    ("clientes", "POST", "/clientes/email/confirmacion"),
    ("empleados", "POST", "/empleados"),
    ("empleados", "POST", "/empleados/login"),
    ("empleados", "POST", "/empleados/invitacion/aceptacion"),
    ("empleados", "POST", "/empleados/password/solicitud"),
    ("empleados", "POST", "/empleados/password/restablecimiento"),
    ("empleados", "PATCH", "/empleados/yo"),
    ("empleados", "PATCH", "/empleados/{empleado_id}"),
    ("empleados", "POST", "/empleados/{empleado_id}/baja"),
    ("apertura", "POST", "/incidencias"),
    ("apertura", "POST", "/incidencias/{incidencia_id}/comentarios"),
    ("apertura", "POST", "/incidencias/{incidencia_id}/cierre"),
    ("apertura", "POST", "/incidencias/{incidencia_id}/reapertura"),
    ("apertura", "POST", "/incidencias/{incidencia_id}/cancelacion"),
    ("apertura", "POST", "/notificaciones/{notificacion_id}/lectura"),
    ("apertura", "POST", "/notificaciones/lectura"),
    ("resolucion", "PATCH", "/incidencias/{incidencia_id}"),
    ("resolucion", "POST", "/incidencias/{incidencia_id}/asignacion"),
    ("resolucion", "POST", "/incidencias/{incidencia_id}/inicio"),
    ("resolucion", "POST", "/incidencias/{incidencia_id}/resolucion"),
    ("resolucion", "POST", "/incidencias/{incidencia_id}/comentarios"),
    ("apertura", "POST", "/clientes/{cliente_id}/incidencias"),
    ("clientes", "POST", "/clientes/invitacion"),
    ("clientes", "POST", "/clientes/invitacion/aceptacion"),
    ("resolucion", "POST", "/respuestas"),
    ("resolucion", "POST", "/incidencias/lote"),
    ("resolucion", "POST", "/incidencias/{incidencia_id}/fusion"),
    ("resolucion", "PATCH", "/respuestas/{respuesta_id}"),
    ("resolucion", "POST", "/respuestas/{respuesta_id}/retirada"),
    ("resolucion", "POST", "/incidencias/{incidencia_id}/consulta"),
    ("apertura", "POST", "/incidencias/{incidencia_id}/valoracion"),
    ("resolucion", "PUT", "/sla"),
    ("resolucion", "POST", "/notificaciones/{notificacion_id}/lectura"),
]


def make_targets(world: World) -> Targets:
    return Targets(world.client.new_cliente("Objetivo"), world.new_empleado("agente", nombre="Objetivo"))


def body_keys(openapi: dict[str, dict]) -> set[Key]:
    from .permissions import operations

    return {(service, method, path) for service, document in openapi.items()
            for method, path, operation in operations(document) if "requestBody" in operation}


def request_schema(openapi: dict[str, dict], key: Key) -> dict[str, Any]:
    """The JSON schema of the operation's body, with references resolved."""
    service, method, path = key
    document = openapi[service]
    operation = document["paths"][path][method.lower()]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return resolve(document, schema)


def resolve(document: dict[str, Any], schema: Any) -> Any:
    if isinstance(schema, dict):
        if "$ref" in schema:
            target: Any = document
            for part in schema["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return resolve(document, target)
        return {k: resolve(document, v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [resolve(document, v) for v in schema]
    return schema


def string_fields(schema: dict[str, Any], body: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the string values in ``body`` the schema types as
    strings (list items as ``name.0``)."""
    found: list[str] = []
    properties = schema.get("properties", {})
    for name, value in (body or {}).items():
        field_schema = properties.get(name, {})
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            found += string_fields(field_schema, value, f"{path}.")
        elif isinstance(value, list):
            items = field_schema.get("items", {})
            if value and isinstance(value[0], str) and items.get("type") == "string":
                found.append(f"{path}.0")
        elif isinstance(value, str) and field_schema.get("type") == "string":
            found.append(path)
    return found


def replace(body: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``body`` with the value at ``dotted`` replaced."""
    import copy

    result = copy.deepcopy(body)
    target: Any = result
    parts = dotted.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return result
