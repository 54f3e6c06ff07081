"""Which actions the team's incident page offers to whom: the services'
rules (agents take waiting incidents and act on their own; supervisors and
admins act on any; one waiting on its customer is only commented on and
tagged), read from the incident as the API answers it; and what the
customer's page says once their action on it is done."""
from __future__ import annotations

import pytest

from portal.cliente import _cancelada, _cerrada, _comentada
from portal.equipo import acciones


def incidencia(estado, asignada_a=None):
    return {"estado": estado, "asignada_a": {"id": asignada_a, "nombre": "X"} if asignada_a else None}


def offered(estado, asignada_a, yo, rol):
    return {name for name, allowed in acciones(incidencia(estado, asignada_a), yo, rol).items()
            if allowed and name != "suya"}


@pytest.mark.parametrize("estado", ["abierta", "reabierta"])
def test_anyone_may_take_a_waiting_incident(estado):
    assert "tomar" in offered(estado, None, "e1", "agente")
    assert "tomar" in offered(estado, "e2", "e1", "agente")  # reopened: back to whom had it, or anyone


def test_an_agent_works_only_their_own_incident():
    assert offered("asignada", "e1", "e1", "agente") == {"empezar", "resolver", "consultar", "comentar", "editar",
                                                         "etiquetar"}
    assert offered("en_curso", "e1", "e1", "agente") == {"resolver", "consultar", "comentar", "editar", "etiquetar"}
    assert offered("asignada", "e2", "e1", "agente") == set()
    assert offered("resuelta", "e1", "e1", "agente") == {"comentar", "etiquetar"}


@pytest.mark.parametrize("rol", ["supervisor", "admin"])
def test_supervisors_and_admins_act_on_any_and_assign_to_anyone(rol):
    assert offered("asignada", "e2", "s1", rol) == {"tomar", "asignar", "empezar", "resolver", "consultar", "comentar",
                                                    "editar", "etiquetar", "fusionar"}
    assert offered("en_curso", "s1", "s1", rol) == {"asignar", "resolver", "consultar", "comentar", "editar",
                                                    "etiquetar", "fusionar"}
    assert offered("abierta", None, "s1", rol) == {"tomar", "asignar", "comentar", "editar", "etiquetar", "fusionar"}
    assert "fusionar" not in offered("resuelta", "s1", "s1", rol)


def test_waiting_on_the_customer_staff_only_comment_and_tag():
    """apertura owns the state until the customer answers: no resolving,
    asking again, taking, assigning, editing or merging it meanwhile."""
    assert offered("esperando_cliente", "e1", "e1", "agente") == {"comentar", "etiquetar"}
    assert offered("esperando_cliente", "e2", "e1", "agente") == set()
    assert offered("esperando_cliente", "e1", "s1", "supervisor") == {"comentar", "etiquetar"}
    assert offered("esperando_cliente", "s1", "s1", "admin") == {"comentar", "etiquetar"}


@pytest.mark.parametrize("estado, consultable", [
    ("abierta", False), ("asignada", True), ("en_curso", True), ("esperando_cliente", False), ("resuelta", False),
    ("reabierta", False), ("cerrada", False), ("cancelada", False), ("fusionada", False)])
def test_the_customer_is_asked_only_while_the_incident_is_worked_on(estado, consultable):
    assert ("consultar" in offered(estado, "e1", "e1", "agente")) is consultable
    assert ("consultar" in offered(estado, "e1", "s1", "admin")) is consultable


@pytest.mark.parametrize("estado", ["cerrada", "cancelada"])
def test_only_tags_are_offered_once_final(estado):
    """A closed incident is still found by its tags: tagging it changes no state."""
    assert offered(estado, "e1", "e1", "agente") == {"etiquetar"}
    assert offered(estado, "e1", "s1", "admin") == {"etiquetar"}
    assert offered(estado, "e1", "e2", "agente") == set()


# -- what the customer is told -----------------------------------------------------------------
def answered(*historial, comentarios=()):
    return {"estado": historial[-1]["a"], "historial": list(historial), "comentarios": list(comentarios)}


def paso(de, a, en):
    return {"de": de, "a": a, "en": en, "por": {"id": "c1", "rol": "cliente"}}


def test_a_comment_that_answers_the_question_says_so():
    pregunta = paso("en_curso", "esperando_cliente", "T1")
    respuesta = answered(pregunta, paso("esperando_cliente", "en_curso", "T2"),
                         comentarios=[{"creado_en": "T1"}, {"creado_en": "T2"}])
    assert _comentada(respuesta) == "Respuesta enviada: seguimos con su incidencia"
    later = {**respuesta, "comentarios": [*respuesta["comentarios"], {"creado_en": "T3"}]}
    assert _comentada(later) == "Comentario enviado"  # the answer was an earlier comment
    assert _comentada(answered(paso("asignada", "en_curso", "T1"), comentarios=[{"creado_en": "T2"}])) == \
        "Comentario enviado"


def test_closing_and_cancelling_while_asked_something():
    assert _cerrada(answered(paso("esperando_cliente", "cerrada", "T2"))).startswith("Nos alegra")
    assert _cerrada(answered(paso("resuelta", "cerrada", "T2"))).startswith("Ha confirmado la solución")
    assert _cancelada(answered(paso("esperando_cliente", "cancelada", "T2"))) == "La incidencia está cancelada"
    assert _cancelada(answered(paso("asignada", "asignada", "T2"))).startswith("Ha pedido cancelar")
