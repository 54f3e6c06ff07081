"""The auto-assignment policy of incidencias_resolucion."""
from __future__ import annotations

import copy

import pytest

from incidencias_dominio import Estado
from incidencias_resolucion.asignacion import ESTADOS_CON_CARGA, elegir_empleado


def empleado(id, rol="agente", categorias=(), activo=True):
    return {"id": id, "nombre": f"Empleado {id}", "rol": rol, "categorias": list(categorias), "activo": activo}


def elegido(*args, **kwargs):
    choice = elegir_empleado(*args, **kwargs)
    return None if choice is None else choice["id"]


def test_open_load_states():
    assert ESTADOS_CON_CARGA == {Estado.ASIGNADA, Estado.EN_CURSO, Estado.REABIERTA}
    assert {"asignada", "en_curso", "reabierta"} == {e.value for e in ESTADOS_CON_CARGA}


def test_nobody_available():
    assert elegir_empleado("hogar", [], {}) is None
    inactivos = [empleado("a", activo=False), empleado("b", categorias=["hogar"], activo=False)]
    assert elegir_empleado("hogar", inactivos, {}) is None
    assert elegir_empleado(None, [empleado("admin", rol="admin")], {}) is None


def test_returns_the_employee_record_itself():
    emps = [empleado("a")]
    assert elegir_empleado(None, emps, {}) is emps[0]


def test_category_match_wins_over_lower_load():
    emps = [empleado("gen"), empleado("esp", categorias=["hogar", "audio"]), empleado("otro", categorias=["audio"])]
    assert elegido("hogar", emps, {"gen": 0, "esp": 9, "otro": 0}) == "esp"


def test_category_match_ignores_case_and_spaces():
    emps = [empleado("gen"), empleado("esp", categorias=[" Hogar "])]
    assert elegido("hogar", emps, {"esp": 5}) == "esp"


def test_least_loaded_among_specialists():
    emps = [empleado("x", categorias=["hogar"]), empleado("y", categorias=["hogar"]), empleado("gen")]
    assert elegido("hogar", emps, {"x": 3, "y": 1, "gen": 0}) == "y"


def test_generalists_are_the_fallback_when_no_specialist_exists():
    emps = [empleado("audio", categorias=["audio"]), empleado("gen1"), empleado("gen2")]
    assert elegido("hogar", emps, {"audio": 0, "gen1": 4, "gen2": 2}) == "gen2"


def test_inactive_specialist_does_not_count():
    emps = [empleado("esp", categorias=["hogar"], activo=False), empleado("gen")]
    assert elegido("hogar", emps, {}) == "gen"


def test_anyone_of_the_role_when_no_specialist_nor_generalist():
    emps = [empleado("audio", categorias=["audio"]), empleado("tv", categorias=["tv"])]
    assert elegido("hogar", emps, {"audio": 2, "tv": 1}) == "tv"


def test_uncategorised_incident_goes_to_generalists_first():
    emps = [empleado("esp", categorias=["hogar"]), empleado("gen")]
    assert elegido(None, emps, {"gen": 7}) == "gen"
    assert elegido("  ", emps, {"gen": 7}) == "gen"
    assert elegido(None, [empleado("esp", categorias=["hogar"])], {"esp": 7}) == "esp"


def test_least_load_with_missing_counts_as_zero():
    emps = [empleado("a"), empleado("b"), empleado("c")]
    assert elegido(None, emps, {"a": 2, "b": 1}) == "c"


def test_ties_are_broken_by_id_whatever_the_input_order():
    emps = [empleado("m"), empleado("b"), empleado("z")]
    for order in (emps, emps[::-1], [emps[2], emps[0], emps[1]]):
        assert elegido(None, order, {"m": 1, "b": 1, "z": 1}) == "b"


def test_supervisors_only_when_no_agent_is_available():
    sup = empleado("sup", rol="supervisor", categorias=["hogar"])
    assert elegido("hogar", [sup, empleado("agente")], {"agente": 50}) == "agente"
    assert elegido("hogar", [sup, empleado("agente", activo=False)], {}) == "sup"
    assert elegido("hogar", [sup, empleado("agente")], {}, excluir={"agente"}) == "sup"


def test_admins_are_never_auto_assigned():
    emps = [empleado("admin", rol="admin"), empleado("sup", rol="supervisor")]
    assert elegido(None, emps, {"sup": 100}) == "sup"


def test_excluded_employee_is_never_chosen():
    emps = [empleado("a", categorias=["hogar"]), empleado("b", categorias=["hogar"])]
    assert elegido("hogar", emps, {"a": 0, "b": 5}, excluir={"a"}) == "b"
    assert elegido("hogar", emps, {}, excluir={"a", "b"}) is None


def test_inputs_are_not_modified():
    emps = [empleado("a", categorias=["hogar"]), empleado("b")]
    carga = {"a": 1}
    before = copy.deepcopy((emps, carga))
    elegir_empleado("hogar", emps, carga, excluir={"b"})
    assert (emps, carga) == before


@pytest.mark.parametrize("missing", ["categorias", "activo"])
def test_tolerates_missing_optional_keys(missing):
    emp = empleado("a")
    del emp[missing]
    assert elegido(None, [emp], {}) == "a"


def test_with_a_service_level_the_tie_goes_to_whom_has_the_least_urgent_work():
    emps = [empleado("a"), empleado("b"), empleado("c")]
    asked: list[list[str]] = []

    def urgencia(ids):
        asked.append(ids)
        return {"a": "2026-11-01T10:00:00.000000Z", "b": "2026-11-01T12:00:00.000000Z",
                "c": "2026-11-01T12:00:00.000000Z"}

    assert elegido(None, emps, {"a": 1, "b": 1, "c": 1}, urgencia=urgencia) == "b"  # latest due; b before c by id
    assert asked == [["a", "b", "c"]]
    assert elegido(None, emps, {"a": 1, "b": 1, "c": 1}, urgencia=lambda ids: {"a": "2026-11-01T10:00:00.000000Z"}) \
        == "b"  # nothing urgent held is the freest
    assert elegido(None, emps, {"a": 0, "b": 1, "c": 1}, urgencia=lambda ids: pytest.fail("no tie to break")) == "a"
