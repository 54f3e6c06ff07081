"""What only the customer-facing side decides: which events become a
notification for the customer, what it says, and whether it is also sent
by e-mail (what the e-mail says: ``correos``)."""
from __future__ import annotations

from typing import Any

from cuentas.roles import CLIENTE
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
    MOTIVO_CIERRE_AUTOMATICO,
    Comentario,
    EntradaHistorial,
    Estado,
    Incidencia,
)

RECORDATORIO_CONSULTA = "incidencia.consulta_pendiente"
"""Not an event: the one reminder of a question left unanswered (``recordar_y_cerrar_esperas``)."""

_MESSAGES = {
    EVENTO_ASIGNADA: "Su incidencia «{titulo}» ha sido asignada a {empleado}.",
    EVENTO_EN_CURSO: "{empleado} está trabajando en su incidencia «{titulo}».",
    EVENTO_RESUELTA: "Su incidencia «{titulo}» tiene una solución propuesta: confírmela o reábrala.",
    EVENTO_CANCELADA: "Su incidencia «{titulo}» ha sido cancelada.",
    EVENTO_CERRADA: "Su incidencia «{titulo}» se ha cerrado.",
    EVENTO_REABIERTA: "Ha reabierto su incidencia «{titulo}»: el equipo volverá a revisarla.",
    EVENTO_ACTUALIZADA: "Su incidencia «{titulo}» ha cambiado de prioridad o categoría.",
    EVENTO_COMENTADA: "Hay un nuevo comentario en su incidencia «{titulo}».",
    EVENTO_ESPERANDO_CLIENTE: "{empleado} necesita saber algo de usted para seguir con su incidencia «{titulo}»: "
                              "respóndale con un comentario.",
    RECORDATORIO_CONSULTA: "Seguimos esperando su respuesta para continuar con su incidencia «{titulo}». Si no nos "
                           "responde, la cerraremos dentro de {plazo}.",
    EVENTO_FUSIONADA: "Su incidencia «{titulo}» trata lo mismo que «{destino}»: las hemos unido y seguimos allí, "
                      "con sus comentarios.",
}
TIPOS_NOTIFICACION = tuple(_MESSAGES)
"""The kinds of notification a customer gets: the events they are told about."""
# Who closed it, as the closing entry of the history says (the plain
# sentence above when it says neither, e.g. an older snapshot).
_CERRADA_POR_EL_CLIENTE = "Ha confirmado la solución de su incidencia «{titulo}»: la incidencia está cerrada."
_CERRADA_POR_EL_CLIENTE_EN_ESPERA = "Ha cerrado su incidencia «{titulo}»: nos alegra que ya esté resuelta."
_CERRADA_AUTOMATICAMENTE = "Su incidencia «{titulo}» se ha cerrado automáticamente al no recibir respuesta en {plazo}."
_CERRADA_AUTOMATICAMENTE_SIN_PLAZO = ("Su incidencia «{titulo}» se ha cerrado automáticamente al no recibir "
                                      "respuesta a la solución propuesta.")
_CERRADA_SIN_RESPUESTA = ("Su incidencia «{titulo}» se ha cerrado automáticamente al no recibir respuesta a "
                          "nuestra pregunta. Si aún necesita ayuda, abra una nueva incidencia.")


def texto_notificacion(tipo: str, incidencia: Incidencia, autocierre_dias: float | None = None) -> str | None:
    """The customer's notification for an event, or None if it needs none.
    A close says who closed it; an automatic one, after how long
    (``autocierre_dias``, the service's setting, when known)."""
    template = _MESSAGES.get(tipo)
    if tipo == RECORDATORIO_CONSULTA:
        return template.format(titulo=incidencia.titulo, plazo=plazo_legible(autocierre_dias) or "unos días")
    if template is None or (tipo == EVENTO_ACTUALIZADA and fusion_recibida(incidencia)):
        return None  # a merge is told once, about the duplicate (``EVENTO_FUSIONADA``)
    if tipo == EVENTO_CERRADA:
        template = _plantilla_de_cierre(incidencia, autocierre_dias)
    empleado = incidencia.asignada_a.nombre if incidencia.asignada_a and incidencia.asignada_a.nombre else "un agente"
    return template.format(titulo=incidencia.titulo, empleado=empleado, plazo=plazo_legible(autocierre_dias),
                           destino=destino_de_fusion(incidencia)["titulo"] if tipo == EVENTO_FUSIONADA else "")


def fusion_recibida(incidencia: Incidencia) -> bool:
    """Whether the incident's last change was taking in a duplicate."""
    return bool(incidencia.historial) and "fusion" in (incidencia.historial[-1].cambios or {})


def destino_de_fusion(incidencia: Incidencia) -> dict[str, str]:
    """The id and title of the incident a merged one went into, as its
    history's last entry records them."""
    cambio = ((incidencia.historial[-1].cambios or {}) if incidencia.historial else {}).get("fusionada_en") or {}
    return {"id": str(cambio.get("a") or incidencia.fusionada_en or ""), "titulo": str(cambio.get("titulo") or "otra")}


def _ultima_entrada(incidencia: Incidencia, estado: Estado) -> EntradaHistorial | None:
    return next((e for e in reversed(incidencia.historial) if e.a == estado), None)


def cierre_automatico(incidencia: Incidencia) -> bool:
    """Whether the incident was closed by the auto-close (the history's
    closing entry carries ``MOTIVO_CIERRE_AUTOMATICO``)."""
    entrada = _ultima_entrada(incidencia, Estado.CERRADA)
    return entrada is not None and entrada.motivo == MOTIVO_CIERRE_AUTOMATICO


def _plantilla_de_cierre(incidencia: Incidencia, autocierre_dias: float | None) -> str:
    entrada = _ultima_entrada(incidencia, Estado.CERRADA)
    if cierre_automatico(incidencia) and entrada is not None and entrada.de is Estado.ESPERANDO_CLIENTE:
        return _CERRADA_SIN_RESPUESTA
    if cierre_automatico(incidencia):
        return _CERRADA_AUTOMATICAMENTE if plazo_legible(autocierre_dias) else _CERRADA_AUTOMATICAMENTE_SIN_PLAZO
    if entrada is not None and entrada.por.rol == CLIENTE:
        return _CERRADA_POR_EL_CLIENTE_EN_ESPERA if entrada.de is Estado.ESPERANDO_CLIENTE else _CERRADA_POR_EL_CLIENTE
    return _MESSAGES[EVENTO_CERRADA]


def plazo_legible(dias: float | None) -> str | None:
    """``dias`` as the customer reads it: "7 días", "1 día", "1,5 días"
    (two decimals at most); None when unknown or too small to say."""
    cifra = "0" if dias is None or dias <= 0 else f"{dias:.2f}".rstrip("0").rstrip(".")
    if cifra == "0":
        return None
    return "1 día" if cifra == "1" else f"{cifra.replace('.', ',')} días"


def motivo_de_reapertura(incidencia: Incidencia) -> str | None:
    """Why the customer reopened the incident, if the snapshot carries it
    (``motivo_reapertura``, else the history's reopening entry)."""
    if incidencia.motivo_reapertura:
        return incidencia.motivo_reapertura
    entrada = _ultima_entrada(incidencia, Estado.REABIERTA)
    return entrada.motivo if entrada is not None else None


def direccion_de_avisos(cliente: dict[str, Any] | None) -> str | None:
    """Where the customer's notifications are also sent by e-mail, or None:
    no address known (erased, or an event older than the field), or the
    customer turned the e-mails off (``avisos_por_correo`` false; absent
    counts as on, the default). The notification is kept either way."""
    if not cliente or cliente.get("eliminado") or cliente.get("avisos_por_correo") is False:
        return None
    email = cliente.get("email")
    return email if isinstance(email, str) and email else None


def pregunta_pendiente(incidencia: Incidencia) -> Comentario | None:
    """The question staff asked last (the comment the history's
    ``consulta`` entry names), while the incident waits on the customer."""
    if incidencia.estado is not Estado.ESPERANDO_CLIENTE:
        return None
    entrada = _ultima_entrada(incidencia, Estado.ESPERANDO_CLIENTE)
    comentario_id = ((entrada.cambios or {}).get("consulta") or {}).get("a") if entrada else None
    return next((c for c in incidencia.comentarios if c.id == comentario_id), None)
