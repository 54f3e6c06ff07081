"""CI configurations: .travis.yml and the GitHub Actions workflow, validated
against their published JSON schemas (shipped by check-jsonschema) and
checked for what they must do."""
from __future__ import annotations

import copy
import json
from importlib import resources

import jsonschema
import pytest

from deploy_helpers import load_yaml, parse_yaml, run, tool

HEROKU_APPS = {"incidencias-clientes", "incidencias-empleados", "incidencias-apertura", "incidencias-resolucion",
               "incidencias-portal"}


def vendored_schema(name: str) -> dict:
    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath(f"{name}.json").read_text()
    return json.loads(text)


def errors(document, schema_name: str) -> list[str]:
    schema = vendored_schema(schema_name)
    validator = jsonschema.validators.validator_for(schema)(schema)
    return sorted(error.message for error in validator.iter_errors(document))


@pytest.fixture(scope="module")
def travis():
    return load_yaml(".travis.yml")


@pytest.fixture(scope="module")
def workflow():
    return load_yaml(".github/workflows/ci.yml")


@pytest.mark.parametrize("path, schema", [(".travis.yml", "vendor.travis"),
                                          (".github/workflows/ci.yml", "vendor.github-workflows")])
def test_check_jsonschema_accepts(path, schema):
    result = run([tool("check-jsonschema"), "--builtin-schema", schema, path])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schemas_catch_mistakes(travis, workflow):
    assert errors(travis, "travis") == [] and errors(workflow, "github-workflows") == []
    broken = copy.deepcopy(workflow)
    del broken["jobs"]["test"]["runs-on"]
    broken["jobs"]["test"]["timeout-minutes"] = "soon"
    assert len(errors(broken, "github-workflows")) >= 1
    broken_travis = copy.deepcopy(travis)
    broken_travis["deploy"][0]["on"] = {"branch": 3.5}
    broken_travis["services"] = "mongodb"
    assert errors(broken_travis, "travis")


def test_travis_tests_against_mongodb_and_rabbitmq_then_deploys_to_heroku(travis):
    assert travis["language"] == "python" and travis["python"] == ["3.11"]
    assert set(travis["services"]) == {"docker", "rabbitmq"}
    assert any(line.startswith("docker run") and "mongo:8.0 --replSet rs0" in line for line in travis["before_install"])
    # The whole suite, then the fault suite, both with the system on MongoDB.
    assert travis["script"][0] == "make test"
    assert travis["script"][1].startswith("sudo --preserve-env=MONGO_URL,AMQP_URL")
    assert travis["script"][1].endswith("make test-faults")
    assert "MONGO_URL=mongodb://localhost:27017/incidencias_test?replicaSet=rs0" in travis["env"]["global"]
    deploys = travis["deploy"]
    assert {d["app"] for d in deploys} == HEROKU_APPS
    for deploy in deploys:
        assert deploy["provider"] == "heroku" and deploy["on"] == {"branch": "main"}
        assert deploy["api_key"] == "$HEROKU_API_KEY"  # a secret of the Travis settings, never in the file


def test_workflow_runs_the_suite_against_real_servers(workflow):
    job = workflow["jobs"]["test"]
    images = {name: spec["image"].split(":")[0] for name, spec in job["services"].items()}
    assert sorted(images.values()) == ["mongo", "rabbitmq"]
    for spec in job["services"].values():
        assert "--health-cmd" in spec["options"]  # the job starts once they are ready
    assert job["env"]["MONGO_URL"] == "mongodb://localhost:27017/incidencias_test"
    assert "27017:27017" in job["services"]["mongodb"]["ports"]
    assert "5672:5672" in job["services"]["rabbitmq"]["ports"]
    runs = [step.get("run", "") for step in job["steps"]]
    assert "make test" in runs
    assert any("nginx" in command for command in runs)


def test_workflow_runs_the_e2e_and_fault_suites_on_a_mongodb_replica_set(workflow):
    job = workflow["jobs"]["faults"]
    assert job["env"]["MONGO_URL"] == "mongodb://localhost:27017/incidencias_faults?replicaSet=rs0"
    runs = [step.get("run", "") for step in job["steps"]]
    assert any("mongo:8.0 --replSet rs0" in command and "rs.initiate" in command for command in runs)
    assert any("apt-get install" in command and "rabbitmq-server" in command for command in runs)
    assert "make test-e2e" in runs
    assert any(command.startswith("sudo --preserve-env=MONGO_URL,AMQP_URL") and command.endswith("make test-faults")
               for command in runs)


def test_workflow_runs_the_chroot_provisioning_when_provision_changes(workflow):
    changes = workflow["jobs"]["changes"]
    filters = parse_yaml(changes["steps"][-1]["with"]["filters"])
    assert "provision/**" in filters["provision"]
    provision = workflow["jobs"]["provision"]
    assert provision["needs"] == "changes"
    assert "needs.changes.outputs.provision == 'true'" in provision["if"]
    assert "make test-provision" in [step.get("run") for step in provision["steps"]]


def test_workflow_brings_up_compose_and_smoke_checks_it(workflow):
    runs = "\n".join(step.get("run", "") for step in workflow["jobs"]["compose"]["steps"])
    for expected in ("deploy/gen-env.sh", "docker compose config", "docker compose up --build --detach --wait",
                     "tests/deploy/smoke.py http://localhost:8080", "--check-saved", "docker compose down --volumes"):
        assert expected in runs


@pytest.mark.parametrize("path", [".travis.yml", ".github/workflows/ci.yml"])
def test_yamllint(path):
    config = ("{extends: default, rules: {line-length: {max: 160}, document-start: disable, "
              "truthy: {allowed-values: ['true', 'false', 'on']}}}")
    result = run([tool("yamllint"), "-d", config, path])
    assert result.returncode == 0, result.stdout
