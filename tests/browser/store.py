"""What the browser tier writes into a service's store directly, because no
API writes it and its real flow is too slow for these tests: a staff
notification. Only resolucion's periodic look at the service levels writes
one, when a target is 4/5 run out in business time; it looks every
``PLAZOS_INTERVALO`` seconds (60 unless set, and the tier's system does not
set it), and the shortest target is a minute, so the real flow would keep a
test waiting one or two minutes. The end-to-end tier (tests/e2e) follows
that flow with a clock it moves; here the notification is written as the
look writes it (``incidencias_resolucion.services.vigilar_plazos``)."""
from __future__ import annotations

import uuid

from harness import Account, System

AVISO_EN_RIESGO = "incidencia.sla_en_riesgo"


def add_staff_notification(system: System, empleado: Account, incidencia_id: str, mensaje: str, *,
                           tipo: str = AVISO_EN_RIESGO, objetivo: str = "primera_respuesta",
                           creada_en: str = "2026-12-01T10:00:00.000000Z") -> str:
    """An unread notification of ``empleado`` about the incident, in resolucion's store; its id."""
    from common.storage import open_store
    from incidencias_resolucion.repository import OUTBOX, NotificacionEquipoRepository

    notificacion_id = uuid.uuid4().hex
    store = open_store(system.storage_url("resolucion"), OUTBOX)
    try:
        added = NotificacionEquipoRepository(store).add({
            "id": notificacion_id, "empleado_id": empleado.id, "incidencia_id": incidencia_id, "tipo": tipo,
            "objetivo": objetivo, "mensaje": mensaje, "creada_en": creada_en, "leida": False,
            "clave": f"navegador:{notificacion_id}",
        })
    finally:
        store.close()
    assert added, notificacion_id
    return notificacion_id
