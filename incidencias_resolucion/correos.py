"""What the e-mail of an employee given an incident says: its title,
priority and category, and the link to it in the console. The layout is
``common.mail.compose``'s.

Only the incident's public fields, and the customer's reason when they
reopened it: never a comment, and so never an internal note. Never the
customer's name either (the console page the link opens shows it): a mail
waiting to be sent, or kept as failed, outlives the customer's erasure,
which cancels only the mails to the customer."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from common.mail import Mail
from common.mail.compose import compose, portal_link
from incidencias_dominio import Estado, Incidencia
from incidencias_replica.correos import prioridad_legible, una_linea


def id_de_correo(incidencia: Incidencia) -> str:
    """The mail of one assignment: the incident at the version the
    assignment gave it. A redelivered event that assigns nothing writes no
    version, hence no second mail."""
    return f"{incidencia.id}:asignada:v{incidencia.version}"


def correo_de_asignacion(incidencia: Incidencia, email: str, portal_url: str) -> Mail:
    """The e-mail telling ``email`` the incident, just assigned, is theirs."""
    titulo = una_linea(incidencia.titulo)
    reabierta = bool(incidencia.historial) and incidencia.historial[-1].de == Estado.REABIERTA
    parrafos = [f"Se le ha asignado de nuevo la incidencia «{titulo}»: el cliente la ha reabierto."
                if reabierta else f"Se le ha asignado la incidencia «{titulo}»."]
    parrafos += [
        f"Prioridad: {prioridad_legible(incidencia.prioridad)}",
        f"Categoría: {incidencia.categoria or 'sin categoría'}",
        # No customer's name: it would stay in this mail after the customer is erased.
    ]
    cita = None
    if reabierta and incidencia.motivo_reapertura:
        parrafos.append("El motivo que dio el cliente:")
        cita = incidencia.motivo_reapertura
    enlace = portal_link(portal_url, f"/equipo/incidencias/{incidencia.id}")
    return compose(email, f"Incidencia asignada: «{titulo}»", parrafos,
                   [("Abrir la incidencia en la consola", enlace)], quote=cita)


OBJETIVOS_LEGIBLES = {"primera_respuesta": "la primera respuesta", "resolucion": "la resolución"}


def hora_legible(instante: datetime, zona: str) -> str:
    """An instant as the team reads it, in the service level's time zone: "07/12/2026 a las 10:30 (Europe/Madrid)"."""
    local = instante.astimezone(ZoneInfo(zona))
    return f"{local:%d/%m/%Y} a las {local:%H:%M} ({zona})"


def correo_de_plazo(incidencia: Incidencia, texto: str, email: str, portal_url: str) -> Mail:
    """The e-mail of a staff notification about a service level (``texto``
    says which target and what): the incident's public fields and its link."""
    titulo = una_linea(incidencia.titulo)
    parrafos = [texto, f"Prioridad: {prioridad_legible(incidencia.prioridad)}",
                f"Categoría: {incidencia.categoria or 'sin categoría'}"]
    enlace = portal_link(portal_url, f"/equipo/incidencias/{incidencia.id}")
    return compose(email, f"Plazo de la incidencia «{titulo}»", parrafos, [("Abrir la incidencia en la consola", enlace)])
