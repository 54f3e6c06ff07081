"""Which actions the team's incident page offers to whom: the services'
rules (agents take waiting incidents and act on their own; supervisors and
admins act on any), read from the incident as the API answers it."""
from __future__ import annotations

import pytest

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
    assert offered("asignada", "e1", "e1", "agente") == {"empezar", "resolver", "comentar", "editar", "etiquetar"}
    assert offered("en_curso", "e1", "e1", "agente") == {"resolver", "comentar", "editar", "etiquetar"}
    assert offered("asignada", "e2", "e1", "agente") == set()
    assert offered("resuelta", "e1", "e1", "agente") == {"comentar", "etiquetar"}


@pytest.mark.parametrize("rol", ["supervisor", "admin"])
def test_supervisors_and_admins_act_on_any_and_assign_to_anyone(rol):
    assert offered("asignada", "e2", "s1", rol) == {"tomar", "asignar", "empezar", "resolver", "comentar", "editar",
                                                    "etiquetar", "fusionar"}
    assert offered("en_curso", "s1", "s1", rol) == {"asignar", "resolver", "comentar", "editar", "etiquetar",
                                                    "fusionar"}
    assert offered("abierta", None, "s1", rol) == {"tomar", "asignar", "comentar", "editar", "etiquetar", "fusionar"}
    assert "fusionar" not in offered("resuelta", "s1", "s1", rol)


@pytest.mark.parametrize("estado", ["cerrada", "cancelada"])
def test_only_tags_are_offered_once_final(estado):
    """A closed incident is still found by its tags: tagging it changes no state."""
    assert offered(estado, "e1", "e1", "agente") == {"etiquetar"}
    assert offered(estado, "e1", "s1", "admin") == {"etiquetar"}
    assert offered(estado, "e1", "e2", "agente") == set()
