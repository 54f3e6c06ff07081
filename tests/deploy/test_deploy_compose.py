"""docker-compose.yml: valid against the Compose specification and wired the
way the services expect (no Docker engine is needed: the file is checked
against the compose-spec JSON schema and its interpolation is evaluated
here; CI's "compose" job also runs it for real)."""
from __future__ import annotations

import copy
import json
import re
import subprocess
from importlib import resources
from urllib.parse import urlparse

import jsonschema
import pytest
from dotenv import dotenv_values

from deploy_helpers import (API_URL_VARIABLES, PORTAL, PORTAL_PORT, PREFIXES, REPO, SERVICES, MissingVariable,
                            compose_variables, interpolate, load_yaml, run, tool)

WEB = {"clientes": "clientes", "empleados": "empleados",
       "incidencias_apertura": "incidencias-apertura", "incidencias_resolucion": "incidencias-resolucion"}
REQUIRED = {"RABBITMQ_PASSWORD", "CLIENTES_JWT_PRIVATE_KEY", "EMPLEADOS_JWT_PRIVATE_KEY",
            "ADMIN_EMAIL", "ADMIN_PASSWORD", "PORTAL_SECRET_KEY"}


@pytest.fixture(scope="module")
def compose():
    return load_yaml("docker-compose.yml")


@pytest.fixture(scope="module")
def schema():
    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    return json.loads(text)


@pytest.fixture(scope="module")
def generated_env(tmp_path_factory):
    """A .env written by deploy/gen-env.sh (fresh secrets), parsed like Compose does."""
    out = tmp_path_factory.mktemp("env") / ".env"
    result = subprocess.run(["bash", str(REPO / "deploy/gen-env.sh"), "ops@example.com", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return {key: value for key, value in dotenv_values(out).items() if value is not None}


def _validate(document, schema):
    return sorted(error.message for error in jsonschema.Draft7Validator(schema).iter_errors(document))


def test_valid_against_the_compose_specification(compose, schema):
    assert _validate(compose, schema) == []


def test_the_schema_check_catches_mistakes(compose, schema):
    broken = copy.deepcopy(compose)
    broken["services"]["clientes"]["depends_on"]["rabbitmq"]["condition"] = "healthy"
    broken["services"]["gateway"]["restart"] = ["always"]
    assert len(_validate(broken, schema)) >= 2


def test_required_values_stop_compose_with_a_message(compose):
    example = {key: value or "" for key, value in dotenv_values(REPO / ".env.example").items()}
    with pytest.raises(MissingVariable, match="RABBITMQ_PASSWORD"):
        interpolate(compose, example)
    for name in REQUIRED:
        assert re.search(r"\$\{" + name + r":\?[^}]+\}", (REPO / "docker-compose.yml").read_text()), name


def test_generated_env_fills_every_required_value(compose, generated_env):
    resolved = interpolate(compose, generated_env)
    clientes = resolved["services"]["clientes"]["environment"]
    assert clientes["JWT_PRIVATE_KEY"] == generated_env["CLIENTES_JWT_PRIVATE_KEY"]
    assert clientes["JWT_PRIVATE_KEY"].startswith("-----BEGIN PRIVATE KEY-----\n")
    empleados = resolved["services"]["empleados"]["environment"]
    assert empleados["JWT_PRIVATE_KEY"] == generated_env["EMPLEADOS_JWT_PRIVATE_KEY"] != clientes["JWT_PRIVATE_KEY"]
    assert empleados["ADMIN_EMAIL"] == "ops@example.com"
    amqp = urlparse(clientes["AMQP_URL"])
    assert (amqp.hostname, amqp.port, amqp.username) == ("rabbitmq", 5672, "incidencias")
    assert amqp.password == generated_env["RABBITMQ_PASSWORD"]
    rabbit = resolved["services"]["rabbitmq"]["environment"]
    assert rabbit["RABBITMQ_DEFAULT_PASS"] == amqp.password and rabbit["RABBITMQ_DEFAULT_USER"] == amqp.username
    portal = resolved["services"][PORTAL]["environment"]
    assert portal["PORTAL_SECRET_KEY"] == generated_env["PORTAL_SECRET_KEY"]
    assert len(portal["PORTAL_SECRET_KEY"]) >= 32
    assert portal["PORTAL_SECURE_COOKIES"] == "true"


def test_generated_keys_are_accepted_by_the_services(generated_env):
    from common.tokens import load_private_key

    for name in ("CLIENTES_JWT_PRIVATE_KEY", "EMPLEADOS_JWT_PRIVATE_KEY"):
        load_private_key(generated_env[name])


def test_generated_portal_key_is_accepted_in_production(generated_env):
    from portal.config import PortalSettings

    settings = PortalSettings(environment="production", portal_secret_key=generated_env["PORTAL_SECRET_KEY"])
    assert settings.secret_key() == generated_env["PORTAL_SECRET_KEY"]
    assert settings.portal_secure_cookies is True


def test_env_example_documents_every_compose_variable(compose):
    used = compose_variables(compose)
    documented = set(dotenv_values(REPO / ".env.example"))
    assert used - documented == set(), "variables of docker-compose.yml missing from .env.example"
    assert documented - used == set(), "variables in .env.example (part 1) that docker-compose.yml never reads"


def test_env_example_documents_every_service_variable():
    text = (REPO / ".env.example").read_text()
    for name in ("AMQP_URL", "CLOUDAMQP_URL", "EXCHANGE", "MONGO_URL", "MONGODB_URI", "DATA_DIR", "KEYS_DIR",
                 "JWT_PRIVATE_KEY", "ENVIRONMENT", "CLIENTES_JWKS_URL", "EMPLEADOS_JWKS_URL", "ADMIN_EMAIL",
                 "ADMIN_PASSWORD", "AUTOCIERRE_DIAS", "LOG_LEVEL", "PROMETHEUS_MULTIPROC_DIR", "SERVICE", "PORT",
                 "WEB_CONCURRENCY", "GUNICORN_WORKER_CLASS", "GUNICORN_THREADS", "FORWARDED_ALLOW_IPS",
                 "PORTAL_PORT", "CLIENTES_URL", "APERTURA_URL", "RESOLUCION_URL", "EMPLEADOS_URL",
                 "PORTAL_SECRET_KEY", "PORTAL_SECURE_COOKIES", "PORTAL_CATEGORIAS", "PORTAL_API_TIMEOUT"):
        assert re.search(rf"^#? ?{name}=", text, re.M), name


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_web_and_worker_of_each_service(compose, service):
    services = compose["services"]
    web, worker = services[WEB[service]], services[WEB[service] + "-worker"]
    port = SERVICES[service]
    assert web["command"] == ["gunicorn", "--config", "python:common.gunicorn_config", f"{service}.app:create_app()"]
    assert worker["command"] == ["python", "-m", f"{service}.worker"]
    assert web["environment"]["PORT"] == str(port)
    assert f"http://127.0.0.1:{port}/salud'" in " ".join(web["healthcheck"]["test"])
    assert web["environment"]["ENVIRONMENT"] == worker["environment"]["ENVIRONMENT"] == "production"
    # Same image, same database, same broker for both processes.
    assert web["build"] == worker["build"] and web["image"] == worker["image"]
    assert web["environment"]["MONGO_URL"] == worker["environment"]["MONGO_URL"]
    assert web["environment"]["AMQP_URL"] == worker["environment"]["AMQP_URL"]
    for container in (web, worker):
        assert container["read_only"] is True and container["cap_drop"] == ["ALL"]
        assert container["restart"] == "unless-stopped"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_has_its_own_mongodb_on_a_private_network(compose, service):
    services, networks = compose["services"], compose["networks"]
    web = services[WEB[service]]
    url = urlparse(web["environment"]["MONGO_URL"])
    mongo = services[url.hostname]
    assert mongo["image"].startswith("mongo:")
    assert url.path.strip("/"), "MONGO_URL must name the database"
    (db_network,) = mongo["networks"]
    assert networks[db_network]["internal"] is True
    attached = {name for name, spec in services.items() if db_network in spec.get("networks", [])}
    assert attached == {url.hostname, WEB[service], WEB[service] + "-worker"}
    volume = mongo["volumes"][0].split(":")
    assert volume[1] == "/data/db" and volume[0] in compose["volumes"]


def test_dependencies_wait_for_healthy_services(compose):
    services = compose["services"]
    for name, spec in services.items():
        for dependency, condition in (spec.get("depends_on") or {}).items():
            assert condition["condition"] == "service_healthy", (name, dependency)
            assert "test" in services[dependency].get("healthcheck", {}), f"{dependency} has no healthcheck"
    gateway_deps = set(services["gateway"]["depends_on"])
    assert gateway_deps == set(WEB.values()) | {PORTAL}
    # The portal starts once the four APIs it calls are ready.
    assert set(services[PORTAL]["depends_on"]) == set(WEB.values())
    for service in SERVICES:
        deps = set(services[WEB[service]]["depends_on"])
        assert {"rabbitmq"} <= deps


def test_only_the_gateway_is_published_and_the_web_views_on_loopback(compose):
    published = {name: spec["ports"] for name, spec in compose["services"].items() if spec.get("ports")}
    assert set(published) == {"gateway", "rabbitmq", "mailpit"}
    assert published["gateway"] == ["${GATEWAY_BIND:-0.0.0.0}:${GATEWAY_PORT:-8080}:80"]
    assert all(port.startswith("127.0.0.1:") for port in published["rabbitmq"] + published["mailpit"])


def test_data_lives_in_named_volumes(compose):
    mounts = {name: spec.get("volumes", []) for name, spec in compose["services"].items()}
    assert "rabbitmq-data:/var/lib/rabbitmq" in mounts["rabbitmq"]
    assert compose["services"]["rabbitmq"]["hostname"] == "rabbitmq"  # node name, and so data, stay put
    assert set(compose["volumes"]) == {"rabbitmq-data", "mongo-clientes-data", "mongo-empleados-data",
                                       "mongo-apertura-data", "mongo-resolucion-data"}


def test_gateway_mounts_the_repository_configuration(compose):
    mounts = compose["services"]["gateway"]["volumes"]
    for mount in mounts:
        source, target, mode = mount.split(":")
        assert (REPO / source).is_file() and mode == "ro", mount
        assert target.startswith("/etc/nginx/conf.d/")


def test_compose_upstreams_match_the_web_containers():
    text = (REPO / "deploy/nginx/upstreams.compose.conf").read_text()
    upstreams = dict(re.findall(r"upstream (\w+) \{\s*server ([\w.-]+:\d+);", text))
    expected = {
        f"incidencias_{prefix.rsplit('/', 1)[1]}": f"{WEB[service]}:{SERVICES[service]}"
        for service, prefix in PREFIXES.items()
    }
    expected["incidencias_portal"] = f"{PORTAL}:{PORTAL_PORT}"
    assert upstreams == expected


def test_the_portal_container(compose):
    """One web container, no worker, no database, no broker: gunicorn's sync
    workers, production mode, reachable from the gateway only."""
    services = compose["services"]
    portal = services[PORTAL]
    assert portal["command"] == ["gunicorn", "--config", "python:common.gunicorn_config", "portal.app:create_app()"]
    assert f"{PORTAL}-worker" not in services
    env = portal["environment"]
    assert env["PORT"] == str(PORTAL_PORT) and env["ENVIRONMENT"] == "production"
    assert env["GUNICORN_WORKER_CLASS"] == "sync"
    assert re.fullmatch(r"\$\{PORTAL_SECRET_KEY:\?[^}]+\}", env["PORTAL_SECRET_KEY"])
    assert env["PORTAL_SECURE_COOKIES"] == "${PORTAL_SECURE_COOKIES:-true}"
    assert not {"AMQP_URL", "MONGO_URL", "JWT_PRIVATE_KEY", "ADMIN_PASSWORD"} & set(env)
    assert portal["networks"] == ["edge"] and "ports" not in portal
    # Same image and hardening as every service container.
    assert portal["build"] == services["clientes"]["build"] and portal["image"] == services["clientes"]["image"]
    assert portal["read_only"] is True and portal["cap_drop"] == ["ALL"] and portal["restart"] == "unless-stopped"
    health = " ".join(portal["healthcheck"]["test"])
    assert f"http://127.0.0.1:{PORTAL_PORT}/salud'" in health


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_portal_calls_each_api_inside_the_compose_network(compose, service):
    services = compose["services"]
    url = urlparse(services[PORTAL]["environment"][API_URL_VARIABLES[service]])
    assert (url.scheme, url.hostname, url.port, url.path) == ("http", WEB[service], SERVICES[service], "")
    # On a network both containers join, straight to the service's gunicorn (not through the gateway).
    assert set(services[PORTAL]["networks"]) & set(services[WEB[service]]["networks"])
    assert services[WEB[service]]["environment"]["PORT"] == str(url.port)


def test_the_gateway_publishes_the_portal_at_the_root():
    gateway = (REPO / "deploy/nginx/gateway.conf").read_text()
    root = re.search(r"location / \{([^}]*)\}", gateway)
    assert root and "proxy_pass http://incidencias_portal;" in root.group(1)
    for prefix in PREFIXES.values():
        assert f"location {prefix}/ {{" in gateway


def test_jwks_urls_point_at_the_issuers(compose):
    env = compose["services"]["incidencias-apertura"]["environment"]
    for variable, service in (("CLIENTES_JWKS_URL", "clientes"), ("EMPLEADOS_JWKS_URL", "empleados")):
        url = urlparse(env[variable])
        assert (url.hostname, url.port, url.path) == (WEB[service], SERVICES[service], "/.well-known/jwks.json")


def test_compose_file_is_clean_yaml():
    result = run([tool("yamllint"), "-d",
                  "{extends: default, rules: {line-length: {max: 160}, document-start: disable}}",
                  "docker-compose.yml"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_yaml_anchors_resolve(compose):
    # A YAML mistake in an anchor would silently drop a whole block.
    assert compose["services"]["clientes-worker"]["logging"]["driver"] == "json-file"
    assert compose["services"]["mongo-resolucion"]["healthcheck"]["test"][1] == "mongosh"
    assert compose["services"]["clientes"]["environment"]["EXCHANGE"] == "${EXCHANGE:-incidencias}"
