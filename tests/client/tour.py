"""The README's tour, through the Python clients generated from the four
services' OpenAPI documents and nothing else: no hand-written HTTP, no
cast, no check for "unset" on a field the server always sends. It is what
a developer of the shop's own systems would write; ``mypy --strict`` checks
it against the generated packages, then it runs against the system
(``tests/client/test_generated_clients.py``).

By hand, with ``make run`` going and the clients generated and installed as
that test does: ``python tests/client/tour.py``. It reads the services'
URLs from ``CLIENTES_URL``, ``APERTURA_URL``, ``RESOLUCION_URL`` and
``EMPLEADOS_URL`` (default: ``make run``'s ports), the admin's e-mail from
``ADMIN_EMAIL`` and the password from ``ADMIN_PASSWORD`` or
``var/admin-password``. Each run makes its own customer, agent and
category, so it can run again on the same data.
"""
from __future__ import annotations

import datetime
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, TypeVar

from incidencias_apertura_client import AuthenticatedClient as AperturaClient
from incidencias_apertura_client.api.incidencias import (
    abrir_incidencia, cerrar_incidencia, reabrir_incidencia, ver_incidencia as ver_incidencia_cliente,
)
from incidencias_apertura_client.api.notificaciones import listar_notificaciones
from incidencias_apertura_client.models import (
    Estado as EstadoCliente, Incidencia as IncidenciaCliente, IncidenciaCreate, NotificacionesPage, Prioridad,
    ProductoIn, Reapertura, TipoNotificacion,
)
from incidencias_clientes_client import Client as ClientesClient
from incidencias_clientes_client.api.clientes import iniciar_sesion as login_cliente, registrar_cliente
from incidencias_clientes_client.models import Cliente, ClienteCreate, Login as LoginCliente, Token as TokenCliente
from incidencias_empleados_client import AuthenticatedClient as EmpleadosAdmin, Client as EmpleadosClient
from incidencias_empleados_client.api.empleados import crear_empleado, iniciar_sesion as login_empleado
from incidencias_empleados_client.models import (
    Empleado, EmpleadoCreate, Login as LoginEmpleado, RolEmpleado, Token as TokenEmpleado,
)
from incidencias_resolucion_client import AuthenticatedClient as ResolucionClient
from incidencias_resolucion_client.api.estadisticas import ver_estadisticas
from incidencias_resolucion_client.api.incidencias import (
    comentar_incidencia, iniciar_incidencia, listar_incidencias, resolver_incidencia,
    ver_incidencia as ver_incidencia_personal,
)
from incidencias_resolucion_client.models import (
    ComentarioCreate, Estadisticas, Estado, Incidencia, IncidenciasStaffPage, ResolucionIn,
)

T = TypeVar("T")
PATIENCE = 30.0
"""Seconds the tour waits for an event to reach the other service."""


def expect(answer: object, kind: type[T], doing: str) -> T:
    """The answer, typed as the documented success ``kind``; a problem (or
    an undocumented answer) ends the tour saying what was being done."""
    if not isinstance(answer, kind):
        raise SystemExit(f"{doing}: expected {kind.__name__}, got {answer!r}")
    return answer


def until(read: Callable[[], T], holds: Callable[[T], bool], what: str) -> T:
    """Read again until what is read holds, or end the tour after ``PATIENCE``."""
    deadline = time.monotonic() + PATIENCE
    while True:
        value = read()
        if holds(value):
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"waited {PATIENCE:.0f} s for {what}; last seen: {value!r}")
        time.sleep(0.1)


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"not as the tour says: {what}")


def admin_password() -> str:
    password = os.environ.get("ADMIN_PASSWORD")
    if password:
        return password
    return (Path(__file__).resolve().parents[2] / "var" / "admin-password").read_text().strip()


def main() -> int:
    urls = {name: os.environ.get(f"{name.upper()}_URL", f"http://127.0.0.1:{port}")
            for name, port in (("clientes", 8001), ("apertura", 8002), ("resolucion", 8003), ("empleados", 8004))}
    run = uuid.uuid4().hex[:8]
    categoria = f"envios-{run}"

    # A customer registers and logs in
    clientes = ClientesClient(base_url=urls["clientes"])
    ana = expect(registrar_cliente.sync(client=clientes, idempotency_key=f"tour-{run}-ana", body=ClienteCreate(
        nombre="Ana", apellidos="García", email=f"ana-{run}@example.com", password="Lampara-2026",
        fecha_nacimiento=datetime.date(1990, 7, 26))), Cliente, "registering the customer")
    print("cliente", ana.id, ana.email, "verificado" if ana.email_verificado else "sin verificar")
    token = expect(login_cliente.sync(client=clientes, body=LoginCliente(email=ana.email, password="Lampara-2026")),
                   TokenCliente, "the customer's login")
    cliente = AperturaClient(base_url=urls["apertura"], token=token.access_token)

    # The admin registers a support agent for a category; the agent logs in
    empleados = EmpleadosClient(base_url=urls["empleados"])
    admin_token = expect(login_empleado.sync(client=empleados, body=LoginEmpleado(
        email=os.environ.get("ADMIN_EMAIL", "admin@incidencias.local"), password=admin_password())),
        TokenEmpleado, "the admin's login")
    admin = EmpleadosAdmin(base_url=urls["empleados"], token=admin_token.access_token)
    eva = expect(crear_empleado.sync(client=admin, idempotency_key=f"tour-{run}-eva", body=EmpleadoCreate(
        nombre="Eva", apellidos="López", email=f"eva-{run}@example.com", password="Soporte-2026",
        rol=RolEmpleado.AGENTE, categorias=[categoria])), Empleado, "registering the agent")
    print("agente", eva.id, eva.rol.value, eva.categorias)
    agente_token = expect(login_empleado.sync(client=empleados, body=LoginEmpleado(
        email=eva.email, password="Soporte-2026")), TokenEmpleado, "the agent's login")
    agente = ResolucionClient(base_url=urls["resolucion"], token=agente_token.access_token)

    # The customer opens an incident: it is assigned to Eva within moments
    abierta = expect(abrir_incidencia.sync(client=cliente, idempotency_key=f"tour-{run}-lampara", body=IncidenciaCreate(
        titulo="La lámpara llegó rota", descripcion="La caja venía aplastada",
        producto=ProductoIn(referencia="LMP-01", nombre="Lámpara de pie"), pedido="P-1001",
        categoria=categoria, prioridad=Prioridad.ALTA)), IncidenciaCliente, "opening the incident")
    incidencia_id = abierta.id

    def seen_by_customer() -> IncidenciaCliente:
        return expect(ver_incidencia_cliente.sync(incidencia_id, client=cliente), IncidenciaCliente,
                      "the customer reading the incident")

    def seen_by_staff() -> Incidencia:
        return expect(ver_incidencia_personal.sync(incidencia_id, client=agente), Incidencia,
                      "the agent reading the incident")

    asignada = until(seen_by_customer, lambda i: i.estado == EstadoCliente.ASIGNADA, "the assignment")
    check(asignada.asignada_a is not None and asignada.asignada_a.id == eva.id, "assigned to Eva")
    print("abierta y asignada:", asignada.estado.value, asignada.asignada_a, "versión", asignada.version)

    # Eva sees it in her queue, starts, writes an internal note, and proposes a solution
    cola = expect(listar_incidencias.sync(client=agente, asignada_a="yo"), IncidenciasStaffPage, "Eva's queue")
    check(incidencia_id in [i.id for i in cola.elementos], "in Eva's queue")
    en_curso = expect(iniciar_incidencia.sync(incidencia_id, client=agente), Incidencia, "starting")
    check(en_curso.estado == Estado.EN_CURSO, "en_curso once started")
    nota = "Transportista con roturas repetidas"
    expect(comentar_incidencia.sync(incidencia_id, client=agente, body=ComentarioCreate(texto=nota, interna=True)),
           Incidencia, "writing the internal note")
    resuelta = expect(resolver_incidencia.sync(incidencia_id, client=agente, body=ResolucionIn(
        texto="Le enviamos una lámpara nueva")), Incidencia, "proposing the solution")
    print("propuesta:", resuelta.estado.value)

    # The customer sees the proposal (never the internal note) and rejects it...
    propuesta = until(seen_by_customer, lambda i: i.estado == EstadoCliente.RESUELTA, "the proposal")
    check(propuesta.resolucion is not None and propuesta.resolucion.texto == "Le enviamos una lámpara nueva",
          "the proposal shown to the customer")
    check(nota not in [c.texto for c in propuesta.comentarios], "the internal note never shown to the customer")
    reabierta = expect(reabrir_incidencia.sync(incidencia_id, client=cliente, body=Reapertura(
        motivo="La nueva también llegó rota")), IncidenciaCliente, "reopening")
    print("reabierta:", reabierta.estado.value)

    # ...it goes back to Eva, who resolves it again; this time the customer closes it
    de_vuelta = until(seen_by_staff, lambda i: i.estado == Estado.ASIGNADA, "the incident back with Eva")
    check(de_vuelta.asignada_a is not None and de_vuelta.asignada_a.id == eva.id, "back with Eva")
    expect(resolver_incidencia.sync(incidencia_id, client=agente, body=ResolucionIn(texto="Reembolso completo")),
           Incidencia, "resolving again")
    until(seen_by_customer, lambda i: i.estado == EstadoCliente.RESUELTA, "the second proposal")
    cerrada = expect(cerrar_incidencia.sync(incidencia_id, client=cliente), IncidenciaCliente, "closing")
    check(cerrada.estado == EstadoCliente.CERRADA, "closed")
    if cerrada.cerrada_en is None:  # nullable: null until the incident is closed
        raise SystemExit("a closed incident without cerrada_en")
    print("cerrada en", cerrada.cerrada_en.isoformat())

    # What the customer was told along the way, and the team's figures
    def notificaciones() -> NotificacionesPage:
        return expect(listar_notificaciones.sync(client=cliente), NotificacionesPage, "the notifications")

    avisos = until(notificaciones, lambda page: TipoNotificacion.INCIDENCIA_CERRADA in [n.tipo for n in page.elementos],
                   "the closing notification")
    for aviso in avisos.elementos:
        print(aviso.creada_en.isoformat(), aviso.tipo.value, aviso.mensaje)
    equipo = ResolucionClient(base_url=urls["resolucion"], token=admin_token.access_token)
    figuras = expect(ver_estadisticas.sync(client=equipo), Estadisticas, "the figures")
    check(figuras.por_estado.cerrada >= 1, "a closed incident counted")
    carga = {c.id: c.abiertas for c in figuras.carga_por_empleado}
    check(carga.get(eva.id) == 0, "Eva has no open incident left")
    print("cerradas:", figuras.por_estado.cerrada, "| abiertas de Eva:", carga[eva.id])
    print("tour completed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
