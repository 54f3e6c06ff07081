"""What the e-mail of a customer's notification says: a subject with the
incident's title, the notification's sentence, what the news is about (the
proposed solution, the team's comment, quoted), the link to the incident on
the portal (and, for a proposed solution, to confirm or reopen it; once
closed, to open a new one) and, last, the link to turn these e-mails off. The layout is ``common.mail.compose``'s.

Only what the customer may see goes in: the incident's public fields and
public comments. An internal note is refused outright, should one ever
reach this side (``Comentario.interna``)."""
from __future__ import annotations

from common.mail import Mail
from common.mail.compose import compose, portal_link
from incidencias_dominio import (
    EVENTO_ACTUALIZADA,
    EVENTO_ASIGNADA,
    EVENTO_CANCELADA,
    EVENTO_CERRADA,
    EVENTO_COMENTADA,
    EVENTO_EN_CURSO,
    EVENTO_ESPERANDO_CLIENTE,
    EVENTO_FUSIONADA,
    EVENTO_REABIERTA,
    EVENTO_RESUELTA,
    Comentario,
    Incidencia,
)
from incidencias_replica.correos import prioridad_legible, una_linea

from .notificaciones import (
    RECORDATORIO_CONSULTA, cierre_automatico, destino_de_fusion, motivo_de_reapertura, pregunta_pendiente,
)

_ASUNTOS = {
    EVENTO_ASIGNADA: "Su incidencia «{titulo}» ha sido asignada",
    EVENTO_EN_CURSO: "Su incidencia «{titulo}» está en curso",
    EVENTO_RESUELTA: "Solución propuesta para su incidencia «{titulo}»",
    EVENTO_CANCELADA: "Su incidencia «{titulo}» ha sido cancelada",
    EVENTO_CERRADA: "Su incidencia «{titulo}» se ha cerrado",
    EVENTO_REABIERTA: "Su incidencia «{titulo}» se ha reabierto",
    EVENTO_ACTUALIZADA: "Su incidencia «{titulo}» ha cambiado",
    EVENTO_COMENTADA: "Nuevo comentario en su incidencia «{titulo}»",
    EVENTO_FUSIONADA: "Su incidencia «{titulo}» sigue en otra",
    EVENTO_ESPERANDO_CLIENTE: "Una pregunta sobre su incidencia «{titulo}»",
    RECORDATORIO_CONSULTA: "Esperamos su respuesta sobre su incidencia «{titulo}»",
}
EQUIPO = "El equipo de atención al cliente"


def correo_de_notificacion(tipo: str, incidencia: Incidencia, mensaje: str, email: str, portal_url: str,
                           comentario: Comentario | None = None) -> Mail:
    """The e-mail of the notification ``mensaje`` about ``incidencia`` (event
    ``tipo``), to ``email``; ``comentario`` is the team's public comment a
    ``incidencia.comentada`` is about. ValueError for a tipo that is never
    notified, or for an internal note."""
    if tipo not in _ASUNTOS:
        raise ValueError(f"{tipo} is not notified")
    if comentario is not None and comentario.interna:
        raise ValueError("an internal note never goes into an e-mail")
    pagina = f"/incidencias/{incidencia.id}"
    parrafos = [mensaje]
    enlaces = [("Ver la incidencia", portal_link(portal_url, pagina))]
    cita = None
    if tipo == EVENTO_RESUELTA and incidencia.resolucion is not None:
        parrafos += ["Si la solución le sirve, confírmela y la incidencia quedará cerrada; si no, "
                     "reábrala y díganos por qué.", "La solución propuesta:"]
        cita = incidencia.resolucion.texto
        enlaces += [("Confirmar la solución", portal_link(portal_url, f"{pagina}#cierre")),
                    ("Reabrir la incidencia", portal_link(portal_url, f"{pagina}#reapertura"))]
    elif tipo == EVENTO_COMENTADA and comentario is not None:
        parrafos.append(f"{comentario.autor.nombre or EQUIPO} ha escrito:")
        cita = comentario.texto
    elif tipo == EVENTO_ACTUALIZADA:
        parrafos.append(f"Prioridad: {prioridad_legible(incidencia.prioridad)}. "
                        f"Categoría: {incidencia.categoria or 'sin categoría'}.")
    elif tipo == EVENTO_CANCELADA and incidencia.historial and incidencia.historial[-1].motivo:
        parrafos.append(f"Motivo: {incidencia.historial[-1].motivo}")
    elif tipo == EVENTO_CERRADA:
        si = ("Si la solución propuesta no le sirvió o el problema vuelve a aparecer"
              if cierre_automatico(incidencia) else "Si el problema vuelve a aparecer")
        parrafos.append(f"{si}, puede abrir una nueva incidencia.")
        enlaces.append(("Abrir una nueva incidencia", portal_link(portal_url, "/incidencias/nueva")))
    elif tipo in (EVENTO_ESPERANDO_CLIENTE, RECORDATORIO_CONSULTA) and (pregunta := pregunta_pendiente(incidencia)):
        parrafos.append(f"{pregunta.autor.nombre or EQUIPO} le pregunta:")
        cita = pregunta.texto
        enlaces[0] = ("Responder", portal_link(portal_url, f"{pagina}#comentarios"))
    elif tipo == EVENTO_FUSIONADA and (destino := destino_de_fusion(incidencia))["id"]:
        enlaces[0] = ("Ver la incidencia donde seguimos", portal_link(portal_url, f"/incidencias/{destino['id']}"))
    elif tipo == EVENTO_REABIERTA and (motivo := motivo_de_reapertura(incidencia)):
        parrafos.append("El motivo que nos indicó:")
        cita = motivo
    # Last, where to turn these e-mails off (they stay in the portal's list).
    enlaces.append(("Preferencias de avisos por correo", portal_link(portal_url, "/perfil#avisos")))
    asunto = _ASUNTOS[tipo].format(titulo=una_linea(incidencia.titulo))
    return compose(email, asunto, parrafos, enlaces, quote=cita)
