"""The rules of employee accounts (empleados/domain.py), without any I/O."""
from __future__ import annotations

import pytest

from empleados import events
from cuentas.cuenta import normalize_email
from empleados.domain import (
    MAX_CATEGORIAS,
    Empleado,
    EmpleadoDeBaja,
    EmpleadoNoValido,
    UltimoAdmin,
    exigir_un_admin,
    normalize_categorias,
)

T0, T1, T2 = "2026-11-01T10:00:00.000Z", "2026-11-02T10:00:00.000Z", "2026-11-03T10:00:00.000Z"


def empleado(rol="agente", categorias=("envios",), **overrides) -> Empleado:
    e = Empleado.nuevo("e1", " Eva ", " López ", " Eva@Example.COM ", "argon2-hash", rol, categorias, T0)
    for name, value in overrides.items():
        setattr(e, name, value)
    return e


def test_new_account_is_normalized_active_and_at_version_1():
    e = empleado(categorias=[" Envios", "envios ", "DEVOLUCIONES", "envios"])
    assert (e.nombre, e.apellidos, e.email) == ("Eva", "López", "eva@example.com")
    assert e.categorias == ["envios", "devoluciones"]
    assert e.activo is True and e.baja_en is None and e.version == 1
    assert e.creado_en == e.actualizado_en == T0
    assert e.nombre_completo == "Eva López"


def test_new_account_refuses_an_unknown_role():
    with pytest.raises(EmpleadoNoValido):
        empleado(rol="jefe")


def test_normalize_email():
    assert normalize_email("  Ana.Ruiz@Example.ORG ") == "ana.ruiz@example.org"


@pytest.mark.parametrize("values, expected", [
    ([], []),
    (["a", "A", " a "], ["a"]),
    (["Hogar", "audio", "HOGAR", "Audio "], ["hogar", "audio"]),
])
def test_normalize_categorias_trims_lowercases_and_deduplicates_in_order(values, expected):
    assert normalize_categorias(values) == expected


@pytest.mark.parametrize("values", [[""], ["   "], [7], ["x" * 51], [f"c{i}" for i in range(MAX_CATEGORIAS + 1)]])
def test_normalize_categorias_refuses_bad_values(values):
    with pytest.raises(EmpleadoNoValido):
        normalize_categorias(values)


def test_twenty_distinct_categories_are_allowed_and_duplicates_do_not_count():
    assert len(normalize_categorias([f"c{i}" for i in range(MAX_CATEGORIAS)] + ["C0", "c1"])) == MAX_CATEGORIAS


def test_update_changes_editable_fields_and_bumps_the_version_once():
    e = empleado()
    assert e.actualizar({"nombre": " Eva María ", "rol": "supervisor", "categorias": ["Audio", "audio"]}, T1)
    assert (e.nombre, e.rol, e.categorias) == ("Eva María", "supervisor", ["audio"])
    assert e.version == 2 and e.actualizado_en == T1 and e.creado_en == T0


def test_update_with_the_same_values_changes_nothing():
    e = empleado()
    assert not e.actualizar({"nombre": "Eva", "apellidos": "López ", "rol": "agente", "categorias": ["ENVIOS"]}, T1)
    assert e.version == 1 and e.actualizado_en == T0


def test_update_ignores_fields_that_are_not_editable():
    e = empleado()
    assert not e.actualizar({"email": "otro@example.com", "activo": False, "password_hash": "x"}, T1)
    assert e.email == "eva@example.com" and e.activo and e.password_hash == "argon2-hash"


@pytest.mark.parametrize("changes", [{"rol": "jefe"}, {"nombre": "  "}, {"apellidos": 3}, {"categorias": [""]}])
def test_update_refuses_invalid_values_and_changes_nothing(changes):
    e = empleado()
    before = e.to_document()
    with pytest.raises(EmpleadoNoValido):
        e.actualizar({"nombre": "Otra", **changes}, T1)
    assert e.to_document() == before


def test_a_password_change_is_a_published_change_ending_earlier_sessions_and_links():
    e = empleado()
    e.enlaces = {"restablecimiento": {"hash": "h", "caduca_en": T2}}
    e.cambiar_password("new-hash", T1)
    assert e.password_hash == "new-hash" and e.actualizado_en == T1 and e.version == 2
    assert e.sesiones_desde == T1.split(".")[0] + "Z" and e.enlaces == {}
    assert e.public_data()["sesiones_desde"] == e.sesiones_desde


def test_baja_deactivates_keeps_the_account_and_is_idempotent():
    e = empleado()
    assert e.dar_de_baja(T1)
    assert (e.activo, e.baja_en, e.actualizado_en, e.version) == (False, T1, T1, 2)
    assert e.nombre == "Eva" and e.email == "eva@example.com"
    assert not e.dar_de_baja(T2)
    assert (e.baja_en, e.version) == (T1, 2)


def test_a_deactivated_account_cannot_be_edited():
    e = empleado()
    e.dar_de_baja(T1)
    with pytest.raises(EmpleadoDeBaja):
        e.actualizar({"rol": "admin"}, T2)
    assert e.rol == "agente" and e.version == 2


@pytest.mark.parametrize("rol, activo, admins, refused", [
    ("agente", None, 1, True),       # demoting the only admin
    ("supervisor", None, 1, True),
    (None, False, 1, True),          # deactivating the only admin
    ("agente", None, 2, False),      # another admin remains
    (None, False, 2, False),
    ("admin", None, 1, False),       # staying admin
    (None, None, 1, False),
])
def test_the_last_active_admin_cannot_be_demoted_or_deactivated(rol, activo, admins, refused):
    admin = empleado(rol="admin", categorias=())
    if refused:
        with pytest.raises(UltimoAdmin):
            exigir_un_admin(admin, admins, rol=rol, activo=activo)
    else:
        exigir_un_admin(admin, admins, rol=rol, activo=activo)


def test_the_admin_rule_does_not_concern_other_employees():
    exigir_un_admin(empleado(rol="supervisor"), 0, rol="agente")
    inactive_admin = empleado(rol="admin", activo=False)
    exigir_un_admin(inactive_admin, 0, activo=False)


def test_document_round_trip_keeps_every_field_and_the_revision():
    e = empleado()
    e._rev = 3
    doc = e.to_document()
    assert doc["_rev"] == 3 and doc["password_hash"] == "argon2-hash"
    back = Empleado.from_document({**doc, "unknown_field": 1})
    assert back == e and back._rev == 3
    assert "_rev" not in empleado().to_document()


def test_events_carry_the_public_data_only():
    e = empleado(categorias=["envios"])
    registrado = events.registrado(e)
    assert registrado.tipo == "empleado.registrado" and registrado.origen == "empleados"
    assert registrado.datos == {"id": "e1", "nombre": "Eva", "apellidos": "López", "rol": "agente",
                                "categorias": ["envios"], "activo": True, "version": 1,
                                "email": "eva@example.com", "sesiones_desde": None}
    e.enlaces = {"invitacion": {"hash": "secreto-del-enlace", "caduca_en": T2}}
    body = events.actualizado(e).to_json()
    assert "argon2-hash" not in body and "secreto-del-enlace" not in body and "enlaces" not in body
    e.actualizar({"rol": "supervisor"}, T1)
    assert events.actualizado(e).datos["rol"] == "supervisor" and events.actualizado(e).datos["version"] == 2
    e.dar_de_baja(T2)
    baja = events.baja(e)
    assert baja.tipo == "empleado.baja" and baja.datos["activo"] is False and baja.datos["version"] == 3


def test_event_data_is_a_copy_not_a_view_of_the_account():
    e = empleado(categorias=["envios"])
    datos = e.public_data()
    e.categorias.append("audio")
    assert datos["categorias"] == ["envios"]
