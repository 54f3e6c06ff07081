"""The launcher's storage (harness/system.py): what the e2e, fault and
security suites and the benchmark run on, from the same environment the
services read. Only ``System.prepare`` runs here: ports and environment are
chosen, no process is started and no database is opened."""
from __future__ import annotations

import pytest

from harness import NoSQLiteFile, System
from harness.system import mongo_databases, procfile_lines

CLEAR = ("MONGO_URL", "MONGODB_URI", "CLIENTES_MONGO_URL", "APERTURA_MONGO_URL", "RESOLUCION_MONGO_URL",
         "EMPLEADOS_MONGO_URL")


@pytest.fixture
def clean_env(monkeypatch):
    for name in CLEAR:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_without_mongodb_every_service_has_its_sqlite_file(clean_env, tmp_path):
    system = System.prepare(tmp_path)
    assert system.storage == "sqlite" and system.mongo_urls == {} and system.made_databases == ()
    for name in procfile_lines():
        assert "MONGO_URL" not in system.process_env(name)
    assert system.db_path("apertura") == tmp_path / "data" / "incidencias_apertura.sqlite3"
    path = (tmp_path / "data" / "incidencias_apertura.sqlite3").resolve()
    assert system.storage_url("apertura") == f"sqlite:///{path}"


def test_mongo_url_gives_each_service_a_database_of_its_own_for_the_run(clean_env, tmp_path):
    clean_env.setenv("MONGO_URL", "mongodb://localhost:27017/incidencias_test?directConnection=true")
    first, second = System.prepare(tmp_path / "1"), System.prepare(tmp_path / "2")
    assert first.storage == "mongodb"
    assert set(first.made_databases) == {"clientes", "apertura", "resolucion", "empleados"}
    assert len(set(first.mongo_urls.values()) | set(second.mongo_urls.values())) == 8  # per service, per run
    for name in procfile_lines():
        service = name.removesuffix("_worker")
        env = first.process_env(name)
        if service != "portal":  # the portal has no storage
            assert env["MONGO_URL"] == first.mongo_urls[service]
            assert env["MONGO_URL"].startswith("mongodb://localhost:27017/incidencias_test_")
            assert env["MONGO_URL"].endswith(f"_{service}?directConnection=true")
    with pytest.raises(NoSQLiteFile):
        first.db_path("apertura")
    assert first.storage_url("resolucion") == first.mongo_urls["resolucion"]


def test_each_services_own_url_is_used_as_it_is_and_never_dropped(clean_env, tmp_path):
    for service in ("clientes", "apertura", "resolucion", "empleados"):
        clean_env.setenv(f"{service.upper()}_MONGO_URL", f"mongodb://db.example/{service}_prod")
    system = System.prepare(tmp_path)
    assert system.mongo_urls["apertura"] == "mongodb://db.example/apertura_prod"
    assert system.made_databases == ()
    assert system.process_env("apertura_worker")["MONGO_URL"] == "mongodb://db.example/apertura_prod"


def test_some_services_on_mongodb_and_others_not_is_refused():
    with pytest.raises(ValueError, match="every service on MongoDB or none"):
        mongo_databases({"APERTURA_MONGO_URL": "mongodb://db.example/a"}, "run1")


def test_an_account_keeps_authenticating_where_it_is_defined():
    urls, _ = mongo_databases({"MONGO_URL": "mongodb://app:secret@db.example/tienda?tls=true"}, "run1")
    assert urls["clientes"] == "mongodb://app:secret@db.example/tienda_run1_clientes?tls=true&authSource=tienda"
