"""The pure rules of the account links and sessions (cuentas.enlaces,
cuentas.cuenta): tokens, their hashes, the mail throttle, and which session
tokens a password change ends."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from clientes.domain import Cliente
from cuentas import enlaces
from cuentas.cuenta import inicio_de_sesiones, sesion_anterior

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc)


def cliente() -> Cliente:
    return Cliente(id="c1", nombre="Ana", apellidos="P", email="ana@example.com", password_hash="h",
                   creado_en="2026-01-01T00:00:00Z", actualizado_en="2026-01-01T00:00:00Z")


def test_a_token_is_the_account_id_and_a_secret_whose_hash_alone_is_kept():
    c = cliente()
    token = enlaces.emitir(c, enlaces.VERIFICACION, T0, email="ana@example.com")
    cuenta_id, secret = token.split(".")
    assert cuenta_id == "c1" and len(secret) == 43 and enlaces.cuenta_de(token) == "c1"
    stored = c.enlaces["verificacion"]
    assert set(stored) == {"hash", "caduca_en", "datos"} and secret not in str(stored)
    assert enlaces.canjear(c, enlaces.VERIFICACION, token, T0) == {"email": "ana@example.com"}
    assert c.enlaces == {}


def test_a_new_link_of_a_purpose_replaces_the_old_one_only():
    c = cliente()
    old = enlaces.emitir(c, enlaces.RESTABLECIMIENTO, T0)
    other = enlaces.emitir(c, enlaces.CAMBIO_EMAIL, T0, email="n@example.com")
    new = enlaces.emitir(c, enlaces.RESTABLECIMIENTO, T0)
    with pytest.raises(enlaces.EnlaceNoValido):
        enlaces.canjear(c, enlaces.RESTABLECIMIENTO, old, T0)
    enlaces.canjear(c, enlaces.RESTABLECIMIENTO, new, T0)
    enlaces.canjear(c, enlaces.CAMBIO_EMAIL, other, T0)


@pytest.mark.parametrize("proposito, vigencia", [("verificacion", timedelta(hours=48)),
                                                 ("restablecimiento", timedelta(minutes=30)),
                                                 ("cambio_email", timedelta(hours=24)),
                                                 ("invitacion", timedelta(hours=72))])
def test_each_purpose_has_its_lifetime(proposito, vigencia):
    c = cliente()
    token = enlaces.emitir(c, proposito, T0)
    assert enlaces.vigente(c, proposito, T0 + vigencia - timedelta(microseconds=1))
    with pytest.raises(enlaces.EnlaceNoValido):
        enlaces.canjear(c, proposito, token, T0 + vigencia)
    assert proposito in c.enlaces  # a refusal changes nothing


@pytest.mark.parametrize("token", ["", "sin-punto", ".secreto", "c1.", "c-1.secreto", "c1." + "x" * 200, None, 5])
def test_what_has_not_the_shape_of_a_token_is_refused(token):
    with pytest.raises(enlaces.EnlaceNoValido):
        enlaces.cuenta_de(token)


def test_the_throttle_counts_within_each_window():
    c = cliente()
    limites = ((timedelta(seconds=60), 1), (timedelta(days=1), 3))
    assert enlaces.espera_de_envio(c, "verificacion", T0, limites) == 0
    for minutes in (0, 2, 4):
        enlaces.anotar_envio(c, "verificacion", T0 + timedelta(minutes=minutes), limites)
    assert enlaces.espera_de_envio(c, "verificacion", T0 + timedelta(minutes=4, seconds=30), limites) == (
        24 * 3600 - 270)
    assert enlaces.espera_de_envio(c, "verificacion", T0 + timedelta(days=1), limites) == 0
    enlaces.anotar_envio(c, "verificacion", T0 + timedelta(days=2), limites)
    assert len(c.envios["verificacion"]) == 1  # what no window counts is forgotten


def test_sessions_count_from_the_second_of_the_change():
    assert inicio_de_sesiones("2026-11-01T10:00:05.700000Z") == "2026-11-01T10:00:05Z"
    desde = "2026-11-01T10:00:05Z"
    at = int(datetime(2026, 11, 1, 10, 0, 5, tzinfo=timezone.utc).timestamp())
    assert sesion_anterior(desde, at - 1) and not sesion_anterior(desde, at) and not sesion_anterior(desde, at + 1)
    assert not sesion_anterior(None, at - 100)
    assert sesion_anterior(desde, None) and sesion_anterior(desde, "1") and sesion_anterior(desde, True)
