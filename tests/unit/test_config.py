"""Configuration from the environment (``common.config``, ``clientes.config``).

Nothing is faked: settings are built from real environment variables set
with ``monkeypatch`` (which restores them afterwards). Every variable the
settings read is cleared first so the machine's own environment cannot leak
into a test.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clientes.app import create_app
from clientes.config import ClientesSettings
from common.config import ConfigError, IssuerSettings, Settings, is_placeholder
from common.storage.sqlite import SQLiteStore

REAL_AMQP = "amqps://incidencias:s3cr3t-Pa55@rabbit.example.com/incidencias"


def pem() -> str:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in list(Settings.model_fields) + ["AMQP_URL", "CLOUDAMQP_URL", "MONGO_URL", "MONGODB_URI"]:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def production(monkeypatch, **variables: str) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def test_defaults_run_locally_without_any_variable():
    settings = ClientesSettings()
    assert settings.environment == "development"
    assert settings.service_name == "clientes"
    assert settings.amqp_url == "amqp://guest:guest@localhost:5672/"
    assert settings.mongo_url is None
    assert settings.jwt_audience == "incidencias"


def test_production_issuer_without_a_signing_key_refuses_to_start(monkeypatch):
    production(monkeypatch, AMQP_URL=REAL_AMQP)
    with pytest.raises(ConfigError, match="JWT_PRIVATE_KEY"):
        ClientesSettings()


@pytest.mark.parametrize("placeholder", ["changeme", "CHANGE-ME", " secret ", "<your key here>",
                                         "${JWT_PRIVATE_KEY}", "", "todo", "placeholder"])
def test_production_issuer_with_a_placeholder_key_refuses_to_start(monkeypatch, placeholder):
    production(monkeypatch, AMQP_URL=REAL_AMQP, JWT_PRIVATE_KEY=placeholder)
    with pytest.raises(ConfigError, match="JWT_PRIVATE_KEY"):
        ClientesSettings()


def test_production_issuer_with_real_secrets_starts(monkeypatch):
    key = pem()
    production(monkeypatch, AMQP_URL=REAL_AMQP, JWT_PRIVATE_KEY=key)
    settings = ClientesSettings()
    assert settings.environment == "production"
    assert settings.jwt_private_key.get_secret_value() == key


def test_production_app_signs_with_the_configured_key(monkeypatch, tmp_path):
    key = pem()
    production(monkeypatch, AMQP_URL=REAL_AMQP, JWT_PRIVATE_KEY=key, DATA_DIR=str(tmp_path / "data"),
               KEYS_DIR=str(tmp_path / "keys"))
    app = create_app()
    try:
        issuer = app.extensions["incidencias"].issuer
        expected = serialization.load_pem_private_key(key.encode(), None).public_key().public_bytes_raw()
        assert issuer.private_key.public_key().public_bytes_raw() == expected
        assert not (tmp_path / "keys").exists()  # no key generated on disk
    finally:
        app.extensions["incidencias"].store.close()


@pytest.mark.parametrize("url", ["amqp://guest:guest@localhost:5672/", "amqp://guest:guest@rabbit.internal/"])
@pytest.mark.parametrize("settings_class", [Settings, IssuerSettings, ClientesSettings])
def test_guest_amqp_account_is_refused_in_production(monkeypatch, url, settings_class):
    production(monkeypatch, AMQP_URL=url, JWT_PRIVATE_KEY=pem())
    with pytest.raises(ConfigError, match="AMQP_URL"):
        settings_class()


def test_default_amqp_url_is_refused_in_production(monkeypatch):
    production(monkeypatch, JWT_PRIVATE_KEY=pem())
    with pytest.raises(ConfigError, match="guest"):
        ClientesSettings()


def test_verifying_services_need_no_signing_key_in_production(monkeypatch):
    production(monkeypatch, AMQP_URL=REAL_AMQP)
    assert Settings().environment == "production"


def test_guest_amqp_is_fine_outside_production(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "test")
    assert ClientesSettings().amqp_url.startswith("amqp://guest:guest@")


def test_unknown_environment_is_refused(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "staging")
    with pytest.raises(ValueError):
        ClientesSettings()


def test_cloudamqp_url_alias(monkeypatch):
    monkeypatch.setenv("CLOUDAMQP_URL", REAL_AMQP)
    assert ClientesSettings().amqp_url == REAL_AMQP


def test_amqp_url_wins_over_cloudamqp_url(monkeypatch):
    monkeypatch.setenv("AMQP_URL", "amqp://a:b@first/")
    monkeypatch.setenv("CLOUDAMQP_URL", "amqp://c:d@second/")
    assert Settings().amqp_url == "amqp://a:b@first/"


def test_mongodb_uri_alias(monkeypatch):
    monkeypatch.setenv("MONGODB_URI", "mongodb://db.example.com:27017/clientes")
    settings = ClientesSettings()
    assert settings.mongo_url == "mongodb://db.example.com:27017/clientes"
    assert settings.storage_url == "mongodb://db.example.com:27017/clientes"


def test_mongo_url_wins_over_mongodb_uri(monkeypatch):
    monkeypatch.setenv("MONGO_URL", "mongodb://first/clientes")
    monkeypatch.setenv("MONGODB_URI", "mongodb://second/clientes")
    assert ClientesSettings().storage_url == "mongodb://first/clientes"


def test_storage_is_sqlite_under_data_dir_without_mongo_url(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "datos"))
    settings = ClientesSettings()
    expected = (tmp_path / "datos" / "clientes.sqlite3").resolve()
    assert settings.storage_url == f"sqlite:///{expected}"
    assert Path(settings.storage_url[len("sqlite:///"):]).is_absolute()


def test_relative_data_dir_resolves_to_an_absolute_sqlite_path(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = ClientesSettings(data_dir=Path("var/data"))
    assert settings.storage_url == f"sqlite:///{(tmp_path / 'var/data/clientes.sqlite3').resolve()}"


def test_app_stores_its_data_where_storage_url_says(tmp_path):
    app = create_app(ClientesSettings(data_dir=tmp_path / "datos", keys_dir=tmp_path / "claves"))
    try:
        store = app.extensions["incidencias"].store
        assert isinstance(store, SQLiteStore)
        assert store.path == (tmp_path / "datos" / "clientes.sqlite3").resolve()
        assert (tmp_path / "claves" / "clientes.pem").exists()
    finally:
        app.extensions["incidencias"].store.close()


@pytest.mark.parametrize("name, value", [("TOKEN_TTL_SECONDS", "10"), ("TOKEN_TTL_SECONDS", "999999"),
                                         ("LOGIN_MAX_FAILURES", "0"), ("MAX_BODY_BYTES", "10")])
def test_out_of_range_numbers_are_refused(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name.lower()):
        ClientesSettings()


def test_is_placeholder():
    assert is_placeholder(None) and is_placeholder("  ChangeMe ") and is_placeholder("<pem>")
    assert not is_placeholder(pem())


def test_the_signing_key_never_shows_in_the_settings_text(monkeypatch):
    key = pem()
    production(monkeypatch, AMQP_URL=REAL_AMQP, JWT_PRIVATE_KEY=key)
    settings = ClientesSettings()
    body = key.splitlines()[1]
    for rendered in (repr(settings), str(settings), settings.model_dump_json()):
        assert body not in rendered


def test_the_test_clock_is_refused_outside_tests(tmp_path):
    from common.config import ConfigError, Settings
    with pytest.raises(ConfigError, match="TEST_CLOCK_FILE"):
        Settings(test_clock_file=tmp_path / "clock")
    assert Settings(environment="test", test_clock_file=tmp_path / "clock").test_clock_file == tmp_path / "clock"


def test_the_clock_moves_only_in_tests(tmp_path, monkeypatch):
    from datetime import datetime, timezone

    import common.clock as clock
    path = tmp_path / "clock"
    path.write_text("86400")
    for environment, moved in (("production", False), ("test", True)):
        monkeypatch.setenv("ENVIRONMENT", environment)
        monkeypatch.setenv("TEST_CLOCK_FILE", str(path))
        monkeypatch.setattr(clock, "_file", clock._UNREAD)
        monkeypatch.setattr(clock, "_read_version", None)
        ahead = (clock.utc_now() - datetime.now(timezone.utc)).total_seconds()
        assert (86390 < ahead < 86410) if moved else abs(ahead) < 5
    # Moved again, the very next reading sees it (no reading window to wait out).
    moved_again = tmp_path / "clock.new"
    moved_again.write_text("172800")
    moved_again.replace(path)
    ahead = (clock.utc_now() - datetime.now(timezone.utc)).total_seconds()
    assert 172790 < ahead < 172810
