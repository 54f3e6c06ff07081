"""The portal's settings: production refuses a missing session key; locally
one key is made once and shared by every worker."""
from __future__ import annotations

import threading

import pytest

from common.config import ConfigError
from portal.config import PortalSettings, local_secret_key


def test_defaults_point_at_the_local_services_with_the_shop_categories(tmp_path):
    settings = PortalSettings(keys_dir=tmp_path)
    assert settings.api_urls == {"clientes": "http://127.0.0.1:8001", "apertura": "http://127.0.0.1:8002",
                                 "resolucion": "http://127.0.0.1:8003", "empleados": "http://127.0.0.1:8004"}
    assert settings.categorias == ["envios", "devoluciones", "garantia", "facturacion", "producto", "otros"]
    assert settings.portal_api_timeout == 5 and settings.portal_secure_cookies is False


def test_categories_are_trimmed_lowercased_and_unique(tmp_path):
    assert PortalSettings(portal_categorias=" Envios, ,muebles,envios ").categorias == ["envios", "muebles"]


@pytest.mark.parametrize("key", [None, "changeme", "<secret>", "short"])
def test_production_refuses_a_missing_placeholder_or_short_key(key):
    with pytest.raises(ConfigError, match="PORTAL_SECRET_KEY"):
        PortalSettings(environment="production", portal_secret_key=key)


def test_production_cookies_are_secure_unless_said_otherwise():
    key = "k" * 40
    assert PortalSettings(environment="production", portal_secret_key=key).portal_secure_cookies is True
    assert PortalSettings(environment="production", portal_secret_key=key,
                          portal_secure_cookies=False).portal_secure_cookies is False
    assert PortalSettings(environment="production", portal_secret_key=key).secret_key() == key


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("APERTURA_URL", "http://apertura:8000/")
    monkeypatch.setenv("PORTAL_API_TIMEOUT", "2.5")
    settings = PortalSettings()
    assert settings.api_urls["apertura"] == "http://apertura:8000" and settings.portal_api_timeout == 2.5


def test_the_local_key_is_made_once_and_every_worker_reads_the_same(tmp_path):
    path = tmp_path / "keys" / "portal-secret-key"
    found: list[str] = []
    threads = [threading.Thread(target=lambda: found.append(local_secret_key(path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1 and len(found[0]) >= 32
    assert PortalSettings(keys_dir=tmp_path / "keys").secret_key() == found[0]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in path.parent.iterdir()] == ["portal-secret-key"]
