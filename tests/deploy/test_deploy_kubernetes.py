"""deploy/kubernetes/: the kustomize base and its overlays, checked offline
(nothing here talks to a cluster).

Each overlay is built twice: by the small kustomize renderer below (always)
and by ``kubectl kustomize`` or ``kustomize build`` when one is installed,
and the two must agree document for document, so the renderer stays honest
about the features it implements. The render is then checked: every core
resource against the Kubernetes schemas (kubernetes-validate, strict), the
operators' resources against the fields this deployment relies on, and the
wiring: the image, commands, environment, health checks and gateway routes
of docker-compose.yml; every variable the services need, accepted by their
own settings in production (and placeholders refused); every Secret and
ConfigMap referenced; Service selectors; probe paths the applications serve;
non-root, read-only containers; an HPA and a PDB for every Deployment in
production; and the NetworkPolicies, evaluated for who reaches whom.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import jsonschema
import pytest
import yaml

from deploy_helpers import (PORTAL, PORTAL_PORT, REPO, SERVICES, Yaml12Loader, free_port, interpolate, load_yaml,
                            nginx_binary, run, stop, tool, wait_until)
from deploy_helpers import request as http_request

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed (pip install -r requirements-dev.txt)")

KUBE = REPO / "deploy/kubernetes"
OVERLAYS = ("local", "production")
NAMESPACE = "incidencias"
# The oldest Kubernetes the manifests are meant for (NetworkPolicy endPort,
# autoscaling/v2, the unprivileged-port sysctl are all older), and the newest
# kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())

# Each service's Deployments and Service carry its Compose container's name.
WEB = {"clientes": "clientes", "empleados": "empleados",
       "incidencias_apertura": "incidencias-apertura", "incidencias_resolucion": "incidencias-resolucion"}
# Each service's MongoDBCommunity and the database it names (as its MONGO_URL does under Compose).
MONGO = {"clientes": ("mongo-clientes", "clientes"), "empleados": ("mongo-empleados", "empleados"),
         "incidencias_apertura": ("mongo-apertura", "incidencias_apertura"),
         "incidencias_resolucion": ("mongo-resolucion", "incidencias_resolucion")}
OPERATOR_APIS = {"rabbitmq.com/v1beta1": "RabbitmqCluster", "mongodbcommunity.mongodb.com/v1": "MongoDBCommunity"}
# The keys of the Secret the MongoDB operator writes for a user (connectionStringSecretName).
CONNECTION_SECRET_KEYS = {"connectionString.standard", "connectionString.standardSrv", "username", "password"}
# Secrets this deployment references but neither renders nor has an operator make.
EXTERNAL_SECRETS = {
    "incidencias-tls": "the Ingress's certificate: cert-manager makes it, or kubectl create secret tls",
}
# The image's unprivileged account (Dockerfile: USER), and nginx's in nginx:*-alpine.
APP_USER = int(re.search(r"^USER (\d+):\d+$", (REPO / "Dockerfile").read_text(), re.MULTILINE).group(1))
NGINX_USER = 101
# Variables that exist only to build another one ($(VAR) in AMQP_URL).
HELPER_VARIABLES = {"RABBITMQ_USER", "RABBITMQ_PASSWORD"}
# Where Kubernetes means to differ from docker-compose.yml, and why.
DIFFERS_FROM_COMPOSE = {
    "MONGO_URL": "a three-member replica set from the MongoDB operator, not one standalone mongod",
    "WEB_CONCURRENCY": "two gunicorn workers per pod for the services; more pods (the HPAs), not more workers",
    "PORTAL_URL": "the overlay's host name",
    "MAIL_FROM": "the overlay's host name",
    "SMTP_URL": "no mailpit: a relay's URL from the optional Secret smtp-relay, else mails wait in the outbox",
    "PORTAL_SECURE_COOKIES": "false in the local overlay, served over plain HTTP",
}
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


# --- a small kustomize -------------------------------------------------------------

class Unsupported(Exception):
    """The kustomization uses a feature this renderer does not implement."""


KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "namespace", "labels", "resources", "configMapGenerator",
                        "secretGenerator", "patches", "images"}
GENERATOR_FIELDS = {"name", "behavior", "envs", "files", "literals", "options"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass",
                  "StorageClass", "IngressClass", "PersistentVolume"}
# The strategic-merge keys of the lists this deployment's patches reach; any
# other list of a core kind is replaced, as strategic merge does for lists
# without a merge key. Lists of the operators' kinds (no schema) are refused.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath"}
CORE_GROUPS = {"v1", "apps/v1", "batch/v1", "networking.k8s.io/v1", "policy/v1", "autoscaling/v2",
               "rbac.authorization.k8s.io/v1"}


def load_documents(text: str) -> list[dict]:
    return [doc for doc in yaml.load_all(text, Loader=Yaml12Loader) if doc]


def _go_json(value) -> str:
    """Go's encoding/json of a string map (sorted keys, <>& escaped): what
    kustomize hashes a generated ConfigMap or Secret from."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{_go_json(k)}:{_go_json(value[k])}" for k in sorted(value)) + "}"
    escaped = []
    for char in value:
        code = ord(char)
        if char in '"\\':
            escaped.append("\\" + char)
        elif char in "\n\r\t":
            escaped.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[char])
        elif code < 0x20 or char in "<>&" or code in (0x2028, 0x2029):
            escaped.append(f"\\u{code:04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def name_hash(resource: dict) -> str:
    """kustomize's name suffix (api/hasher): sha256 of kind, data (and a
    Secret's type) and a name that its lookup of "metadata/name" never finds."""
    fields = {"kind": resource["kind"], "name": "", "data": resource.get("data", {})}
    if resource["kind"] == "Secret":
        fields["type"] = resource.get("type", "Opaque")
    digest = hashlib.sha256(_go_json(fields).encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _key_values(lines) -> dict[str, str]:
    pairs = {}
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, separator, value = line.partition("=")
        if not separator:
            raise Unsupported(f"not KEY=VALUE: {line!r}")
        pairs[key.strip()] = value
    return pairs


def _generate(entry: dict, kind: str, directory: Path) -> dict:
    if set(entry) - GENERATOR_FIELDS or set(entry.get("options", {})) - {"disableNameSuffixHash"}:
        raise Unsupported(f"{kind} generator fields {sorted(entry)}")
    data = {}
    for env in entry.get("envs", []):
        data.update(_key_values((directory / env).read_text().splitlines()))
    data.update(_key_values(entry.get("literals", [])))
    for source in entry.get("files", []):
        key, _, path = source.rpartition("=")
        resolved = (directory / path).resolve()
        if not resolved.is_relative_to(directory.resolve()):
            raise Unsupported(f"{path}: outside {directory} (kustomize's load restrictor refuses it)")
        data[key or Path(path).name] = resolved.read_bytes()
    if kind == "Secret":
        data = {key: base64.b64encode(value if isinstance(value, bytes) else value.encode()).decode()
                for key, value in data.items()}
        resource = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": entry["name"]}, "type": "Opaque",
                    "data": data}
    else:
        resource = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": entry["name"]},
                    "data": {key: value.decode() if isinstance(value, bytes) else value for key, value in data.items()}}
    return resource


def _merge(base, patch, core: bool, path: str = ""):
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = _merge(merged[key], value, core, f"{path}.{key}")
                if isinstance(value, list) and isinstance(base[key], list):
                    if not core:
                        raise Unsupported(f"a patch of a list of a custom resource ({path}.{key})")
                    if key in MERGE_KEYS:
                        merged[key] = _merge_list(base[key], value, MERGE_KEYS[key], f"{path}.{key}")
            else:
                merged[key] = value
        return merged
    return patch


def _merge_list(base: list, patch: list, key: str, path: str) -> list:
    patched = {item[key]: item for item in patch}
    merged = [_merge(item, patched.pop(item[key]), True, path) if item[key] in patched else item for item in base]
    if patched:
        raise Unsupported(f"a patch adding to {path} (kustomize orders such lists its own way)")
    return merged


def _selected(labels: dict, selector: str) -> bool:
    for requirement in re.split(r",(?![^()]*\))", selector) if selector else []:
        found = re.fullmatch(r"\s*([\w./-]+)\s+in\s+\(([^)]*)\)\s*", requirement)
        if found:
            if labels.get(found.group(1)) not in [v.strip() for v in found.group(2).split(",")]:
                return False
            continue
        key, separator, value = requirement.partition("=")
        if not separator:
            raise Unsupported(f"label selector {selector!r}")
        if labels.get(key.strip()) != value.strip():
            return False
    return True


def _pod_specs(resource: dict) -> list[dict]:
    if resource["kind"] in POD_KINDS:
        return [resource["spec"]["template"]["spec"]]
    if resource["kind"] == "CronJob":
        return [resource["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    if resource["kind"] == "Pod":
        return [resource["spec"]]
    return []


def _containers(resource: dict) -> list[dict]:
    return [c for spec in _pod_specs(resource) for c in spec.get("initContainers", []) + spec.get("containers", [])]


def _rename_references(resource: dict, renamed: dict[tuple[str, str], str]) -> None:
    """Point a pod template's references at the generated names (kustomize's nameReference)."""
    def rename(ref: dict, field: str, kind: str):
        if ref and (kind, ref.get(field)) in renamed:
            ref[field] = renamed[(kind, ref[field])]

    for spec in _pod_specs(resource):
        for volume in spec.get("volumes", []):
            rename(volume.get("configMap"), "name", "ConfigMap")
            rename(volume.get("secret"), "secretName", "Secret")
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            for source in container.get("envFrom", []):
                rename(source.get("configMapRef"), "name", "ConfigMap")
                rename(source.get("secretRef"), "name", "Secret")
            for variable in container.get("env", []):
                value_from = variable.get("valueFrom", {})
                rename(value_from.get("configMapKeyRef"), "name", "ConfigMap")
                rename(value_from.get("secretKeyRef"), "name", "Secret")


def _set_image(container: dict, images: list[dict]) -> None:
    name, _, tag = container["image"].partition(":")
    for image in images:
        if image["name"] == name:
            if set(image) - {"name", "newName", "newTag"}:
                raise Unsupported(f"image fields {sorted(image)}")
            container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}".rstrip(":")


def _build(directory: Path) -> list[tuple[dict, bool]]:
    """The resources of one kustomization, each with whether its name still
    takes a hash suffix (applied once, by the outermost build)."""
    kustomization = yaml.load((directory / "kustomization.yaml").read_text(), Loader=Yaml12Loader)
    if set(kustomization) - KUSTOMIZATION_FIELDS:
        raise Unsupported(f"{directory}: {sorted(set(kustomization) - KUSTOMIZATION_FIELDS)}")
    resources: list[tuple[dict, bool]] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            resources += _build(path)
        else:
            resources += [(doc, False) for doc in load_documents(path.read_text())]
    for field, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
        for entry in kustomization.get(field, []):
            generated = _generate(entry, kind, directory)
            hashed = not entry.get("options", {}).get("disableNameSuffixHash", False)
            behavior = entry.get("behavior", "create")
            index = next((i for i, (doc, _) in enumerate(resources)
                          if doc["kind"] == kind and doc["metadata"]["name"] == entry["name"]), None)
            if behavior == "create":
                assert index is None, f"{kind} {entry['name']} generated twice"
                resources.append((generated, hashed))
            elif behavior in ("merge", "replace") and index is not None:
                existing = resources[index][0]
                data = {**existing.get("data", {}), **generated["data"]} if behavior == "merge" else generated["data"]
                resources[index] = ({**existing, "data": data}, resources[index][1])
            else:
                raise Unsupported(f"{kind} {entry['name']}: behavior {behavior}")
    for entry in kustomization.get("patches", []):
        if set(entry) - {"path", "target"} or set(entry.get("target", {})) - {"kind", "name", "labelSelector"}:
            raise Unsupported(f"patch {entry}")
        for patch in load_documents((directory / entry["path"]).read_text()):
            target = entry.get("target") or {"kind": patch["kind"], "name": patch["metadata"]["name"]}
            matched = [i for i, (doc, _) in enumerate(resources)
                       if doc["kind"] == target["kind"]
                       and target.get("name", doc["metadata"]["name"]) == doc["metadata"]["name"]
                       and _selected(doc["metadata"].get("labels", {}), target.get("labelSelector", ""))]
            assert matched, f"patch {entry['path']} matches nothing"
            body = {key: value for key, value in patch.items() if key not in ("apiVersion", "kind", "metadata")}
            meta = {key: value for key, value in patch["metadata"].items() if key != "name"}
            for i in matched:
                doc, hashed = resources[i]
                core = doc["apiVersion"] in CORE_GROUPS
                merged = _merge(doc, body, core)
                merged["metadata"] = _merge(doc["metadata"], meta, core)
                resources[i] = (merged, hashed)
    namespace = kustomization.get("namespace")
    for doc, _ in resources:
        if namespace and doc["kind"] not in CLUSTER_SCOPED:
            doc.setdefault("metadata", {})["namespace"] = namespace
    for label in kustomization.get("labels", []):
        if label.get("includeSelectors") or label.get("includeTemplates") or set(label) - {
                "pairs", "includeSelectors", "includeTemplates"}:
            raise Unsupported(f"labels {label}")
        for doc, _ in resources:
            doc["metadata"]["labels"] = {**doc["metadata"].get("labels", {}), **label["pairs"]}
    for doc, _ in resources:
        for container in _containers(doc):
            _set_image(container, kustomization.get("images", []))
    return resources


def build(directory: Path) -> list[dict]:
    resources = [(copy.deepcopy(doc), hashed) for doc, hashed in _build(directory)]
    renamed = {}
    for doc, hashed in resources:
        if hashed:
            name = doc["metadata"]["name"]
            doc["metadata"]["name"] = renamed[(doc["kind"], name)] = f"{name}-{name_hash(doc)}"
    for doc, _ in resources:
        _rename_references(doc, renamed)
    return [doc for doc, _ in resources]


def identity(doc: dict) -> tuple[str, str, str, str]:
    return doc["apiVersion"], doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"]


# --- the render, and what it says ---------------------------------------------------

class Render:
    def __init__(self, docs: list[dict], overlay: Path):
        self.docs = docs
        self.overlay = overlay
        identities = [identity(doc) for doc in docs]
        assert len(identities) == len(set(identities)), "a resource rendered twice"

    def of(self, kind: str) -> list[dict]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def get(self, kind: str, name: str) -> dict:
        (found,) = [doc for doc in self.of(kind) if doc["metadata"]["name"] == name]
        return found

    def named(self, kind: str, name: str) -> dict | None:
        """A generated resource by its name before the hash suffix."""
        found = [doc for doc in self.of(kind) if re.fullmatch(rf"{re.escape(name)}(-[a-z0-9]{{10}})?",
                                                              doc["metadata"]["name"])]
        return found[0] if found else None

    @property
    def deployments(self) -> dict[str, dict]:
        return {doc["metadata"]["name"]: doc for doc in self.of("Deployment")}

    def secret_data(self, name: str) -> dict[str, str] | None:
        secret = next((doc for doc in self.of("Secret") if doc["metadata"]["name"] == name), None)
        if secret is None:
            return None
        return {key: base64.b64decode(value).decode() for key, value in secret.get("data", {}).items()}

    def operator_secret(self, name: str) -> tuple[dict, dict] | None:
        """The MongoDBCommunity and user whose connection-string Secret is ``name``."""
        for mongo in self.of("MongoDBCommunity"):
            for user in mongo["spec"]["users"]:
                if user.get("connectionStringSecretName") == name:
                    return mongo, user
        return None

    def connection_string(self, mongo: dict, user: dict) -> str:
        """connectionString.standard as the MongoDB operator writes it
        (MongoDBCommunity.MongoAuthUserURI): every member of the headless
        Service, the user's database, replicaSet=<name>, ssl=<tls>."""
        name, namespace = mongo["metadata"]["name"], mongo["metadata"]["namespace"]
        password = self.secret_data(user["passwordSecretRef"]["name"])[user["passwordSecretRef"].get("key", "password")]
        hosts = ",".join(f"{name}-{i}.{name}-svc.{namespace}.svc.cluster.local:27017"
                         for i in range(mongo["spec"]["members"]))
        tls = str(mongo["spec"].get("security", {}).get("tls", {}).get("enabled", False)).lower()
        return (f"mongodb://{quote(user['name'], safe='')}:{quote(password, safe='')}@{hosts}/{user['db']}"
                f"?replicaSet={name}&ssl={tls}")

    def container_env(self, container: dict, overrides: dict[str, str] | None = None) -> dict[str, str]:
        """The environment the kubelet gives ``container``: envFrom, then env
        with $(VAR) expanded; Secrets' values from the render (or as the
        operator writes them), optional ones left out when missing."""
        overrides = overrides or {}
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                env.update(self.get("ConfigMap", source["configMapRef"]["name"])["data"])
            else:
                env.update(self.secret_data(source["secretRef"]["name"]))
        for variable in container.get("env", []):
            name = variable["name"]
            if "value" in variable:
                env[name] = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                                   lambda m: env.get(m.group(1), m.group(0)), variable["value"])
                continue
            ref = variable["valueFrom"].get("secretKeyRef")
            if ref is None:
                ref = variable["valueFrom"]["configMapKeyRef"]
                env[name] = self.get("ConfigMap", ref["name"])["data"][ref["key"]]
                continue
            data = self.secret_data(ref["name"])
            if data is None and self.operator_secret(ref["name"]):
                mongo, user = self.operator_secret(ref["name"])
                data = {"connectionString.standard": self.connection_string(mongo, user)}
            if data is None and ref.get("optional"):
                continue
            env[name] = overrides.get(name, data[ref["key"]])
        return env


def gen_secrets(overlay: Path, email: str = "ops@example.com") -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(KUBE / "gen-secrets.sh"), str(overlay), email], capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A copy of deploy/kubernetes (without anyone's real secrets) whose
    overlays have fresh secrets from gen-secrets.sh."""
    root = tmp_path_factory.mktemp("k8s") / "kubernetes"
    shutil.copytree(KUBE, root, ignore=shutil.ignore_patterns("secrets", ".secrets.*"))
    for overlay in OVERLAYS:
        result = gen_secrets(root / "overlays" / overlay)
        assert result.returncode == 0, result.stderr
    return root


@pytest.fixture(scope="module")
def renders(workspace) -> dict[str, Render]:
    return {overlay: Render(build(workspace / "overlays" / overlay), workspace / "overlays" / overlay)
            for overlay in OVERLAYS}


@pytest.fixture(params=OVERLAYS)
def render(request, renders) -> Render:
    return renders[request.param]


@pytest.fixture(scope="module")
def production(renders) -> Render:
    return renders["production"]


@pytest.fixture(scope="module")
def compose():
    return load_yaml("docker-compose.yml")


def _kustomize_command() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


# --- rendering ------------------------------------------------------------------------

def _decoded(doc: dict) -> dict:
    """A Secret with its values decoded (kustomize wraps long base64 lines; the API server ignores the breaks)."""
    if doc["kind"] != "Secret":
        return doc
    return {**doc, "data": {key: base64.b64decode(value) for key, value in doc.get("data", {}).items()}}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kustomize_itself_builds_the_same_resources(workspace, renders, overlay):
    command = _kustomize_command()
    if command is None:
        pytest.skip("neither kustomize nor kubectl is installed: the overlays are checked as this file renders them")
    result = subprocess.run([*command, str(workspace / "overlays" / overlay)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    theirs = {identity(doc): _decoded(doc) for doc in load_documents(result.stdout)}
    ours = {identity(doc): _decoded(doc) for doc in renders[overlay].docs}
    assert sorted(ours) == sorted(theirs)
    for key, doc in theirs.items():
        assert ours[key] == doc, key


def test_an_overlay_does_not_build_without_its_secrets(tmp_path):
    shutil.copytree(KUBE, tmp_path / "kubernetes", ignore=shutil.ignore_patterns("secrets", ".secrets.*"))
    overlay = tmp_path / "kubernetes/overlays/production"
    with pytest.raises(FileNotFoundError, match="secrets"):
        build(overlay)
    command = _kustomize_command()
    if command:
        result = subprocess.run([*command, str(overlay)], capture_output=True, text=True, timeout=120,
                                check=False)
        assert result.returncode != 0 and "secrets" in result.stderr


def test_the_renderer_refuses_what_it_does_not_implement(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(Unsupported, match="namePrefix"):
        build(tmp_path)


def test_generated_names_hash_like_kustomize():
    # Values kustomize 5 gives these two (so the hash of a changed ConfigMap, and the rollout it causes, match).
    assert name_hash({"kind": "ConfigMap", "data": {"A": "1"}}) == "89g4tffbfk"
    assert name_hash({"kind": "ConfigMap", "data": {"A": "1", "B": "a=b", "MAIL": "Inc <no@x.y>"}}) == "khb86kfg5c"


# --- schemas --------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def _schemas_read_once():
    """kubernetes-validate reads and parses its schema files again for every
    document; reading each once keeps these tests within seconds."""
    import functools

    from kubernetes_validate import utils

    with pytest.MonkeyPatch.context() as patch:
        if hasattr(utils, "schema_contents"):
            patch.setattr(utils, "schema_contents", functools.lru_cache(maxsize=None)(utils.schema_contents))
        yield


def _schema_errors(docs: list[dict], version: str) -> list[str]:
    errors = []
    for doc in docs:
        if doc["apiVersion"] in OPERATOR_APIS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']} at {'.'.join(map(str, error.path))}: "
                          f"{error.message[:200]}")
    return errors


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_resources_are_valid_kubernetes(render, version):
    assert _schema_errors(render.docs, version) == []
    kinds = {doc["kind"] for doc in render.docs if doc["apiVersion"] not in OPERATOR_APIS}
    assert {"Namespace", "Deployment", "Service", "ConfigMap", "Secret", "Ingress", "NetworkPolicy"} <= kinds


def test_the_schema_check_catches_mistakes(production):
    broken = copy.deepcopy(production.get("Deployment", "clientes"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/salud"
    broken["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = ["1"]
    hpa = copy.deepcopy(production.get("HorizontalPodAutoscaler", "clientes"))
    hpa["spec"]["minReplicas"] = "2"
    assert len(_schema_errors([broken, hpa], KUBERNETES_VERSIONS[0])) == 2


# The fields of the operators' resources this deployment sets, as their CRDs
# define them (rabbitmq/cluster-operator config/crd/bases/rabbitmq.com_rabbitmqclusters.yaml,
# mongodb/mongodb-kubernetes-operator config/crd/bases/mongodbcommunity.mongodb.com_mongodbcommunity.yaml);
# anything else is a typo here, not a setting.
_RESOURCES = {"type": "object", "additionalProperties": False, "properties": {
    "requests": {"type": "object"}, "limits": {"type": "object"}}}
_METADATA = {"type": "object", "required": ["name", "namespace"]}
RABBITMQ_SCHEMA = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "rabbitmq.com/v1beta1"}, "kind": {"const": "RabbitmqCluster"}, "metadata": _METADATA,
        "spec": {"type": "object", "additionalProperties": False, "required": ["replicas"], "properties": {
            "replicas": {"type": "integer", "minimum": 1},
            "image": {"type": "string"},
            "secretBackend": {"type": "object", "additionalProperties": False, "properties": {
                "externalSecret": {"type": "object", "additionalProperties": False, "required": ["name"],
                                   "properties": {"name": {"type": "string"}}}}},
            "persistence": {"type": "object", "additionalProperties": False, "properties": {
                "storage": {"type": "string"}, "storageClassName": {"type": "string"}}},
            "resources": _RESOURCES,
            "rabbitmq": {"type": "object", "additionalProperties": False, "properties": {
                "additionalConfig": {"type": "string"},
                "additionalPlugins": {"type": "array", "items": {"type": "string"}}}},
        }},
    },
}
MONGODB_SCHEMA = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "mongodbcommunity.mongodb.com/v1"}, "kind": {"const": "MongoDBCommunity"},
        "metadata": _METADATA,
        "spec": {"type": "object", "additionalProperties": False, "required": ["members", "type", "version"],
                 "properties": {
            "members": {"type": "integer", "minimum": 1},
            "type": {"enum": ["ReplicaSet"]},
            "version": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
            "security": {"type": "object", "additionalProperties": False, "properties": {
                "authentication": {"type": "object", "additionalProperties": False, "properties": {
                    "modes": {"type": "array",
                              "items": {"enum": ["SCRAM", "SCRAM-SHA-1", "SCRAM-SHA-256", "X509"]}}}}}},
            "users": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False,
                "required": ["name", "db", "passwordSecretRef", "roles", "scramCredentialsSecretName"],
                "properties": {
                    "name": {"type": "string"}, "db": {"type": "string"},
                    "passwordSecretRef": {"type": "object", "additionalProperties": False, "required": ["name"],
                                          "properties": {"name": {"type": "string"}, "key": {"type": "string"}}},
                    "roles": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                                         "required": ["name", "db"],
                                                         "properties": {"name": {"type": "string"},
                                                                        "db": {"type": "string"}}}},
                    "scramCredentialsSecretName": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                    "connectionStringSecretName": {"type": "string"},
                }}},
            "additionalMongodConfig": {"type": "object"},
            "statefulSet": {"type": "object", "additionalProperties": False, "properties": {
                "spec": {"type": "object", "additionalProperties": False, "properties": {
                    "template": {"type": "object", "additionalProperties": False, "properties": {
                        "spec": {"type": "object", "additionalProperties": False, "properties": {
                            "containers": {"type": "array", "items": {
                                "type": "object", "additionalProperties": False, "required": ["name"],
                                "properties": {"name": {"enum": ["mongod", "mongodb-agent"]},
                                               "resources": _RESOURCES}}}}}}}}}}},
        }},
    },
}


def test_operator_resources(render):
    (rabbitmq,) = render.of("RabbitmqCluster")
    assert [e.message for e in jsonschema.Draft7Validator(RABBITMQ_SCHEMA).iter_errors(rabbitmq)] == []
    mongos = render.of("MongoDBCommunity")
    for mongo in mongos:
        assert [e.message for e in jsonschema.Draft7Validator(MONGODB_SCHEMA).iter_errors(mongo)] == []
    assert sorted(m["metadata"]["name"] for m in mongos) == sorted(name for name, _ in MONGO.values())
    # The operator's database pods run as this account, which may read their Secrets.
    assert render.get("ServiceAccount", "mongodb-database")
    binding = render.get("RoleBinding", "mongodb-database")
    assert binding["roleRef"]["name"] == "mongodb-database" and render.get("Role", "mongodb-database")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "mongodb-database", "namespace": NAMESPACE}]


def test_three_rabbitmq_nodes_and_three_members_per_replica_set_in_production(renders):
    production, local = renders["production"], renders["local"]
    assert production.get("RabbitmqCluster", "rabbitmq")["spec"]["replicas"] == 3
    assert {m["spec"]["members"] for m in production.of("MongoDBCommunity")} == {3}
    assert local.get("RabbitmqCluster", "rabbitmq")["spec"]["replicas"] == 1
    assert {m["spec"]["members"] for m in local.of("MongoDBCommunity")} == {1}


def test_each_service_has_its_own_database_and_account(render):
    for name, database in MONGO.values():
        mongo = render.get("MongoDBCommunity", name)
        assert mongo["spec"]["security"]["authentication"]["modes"] == ["SCRAM"]
        (user,) = mongo["spec"]["users"]
        # Read and write its own database, nothing else; its password is a rendered Secret.
        assert user["db"] == database and user["roles"] == [{"name": "readWrite", "db": database}]
        password = render.secret_data(user["passwordSecretRef"]["name"])
        assert password and len(password[user["passwordSecretRef"].get("key", "password")]) >= 32
        assert user["connectionStringSecretName"] == f"{name}-url"


def test_rabbitmq_account_is_the_one_the_services_use(render):
    rabbitmq = render.get("RabbitmqCluster", "rabbitmq")
    secret = render.secret_data(rabbitmq["spec"]["secretBackend"]["externalSecret"]["name"])
    # The keys of the Secret the operator would otherwise make.
    assert {"username", "password", "default_user.conf", "host", "port", "provider", "type"} <= set(secret)
    assert secret["default_user.conf"] == f"default_user = {secret['username']}\ndefault_pass = {secret['password']}\n"
    amqp = urlparse(render.container_env(_container(render, "clientes"))["AMQP_URL"])
    assert (amqp.username, amqp.password, amqp.hostname, amqp.port) == (
        secret["username"], secret["password"], rabbitmq["metadata"]["name"], 5672)
    assert re.fullmatch(r"[0-9a-f]{48}", secret["password"])  # it goes inside a URL as it is


def test_mongo_url_names_the_replica_set_and_gets_majority_writes(render):
    from common.storage.mongo import client_options

    for service, (name, database) in MONGO.items():
        url = render.container_env(_container(render, WEB[service]))["MONGO_URL"]
        parsed = parse_qs(urlparse(url).query)
        assert parsed["replicaSet"] == [name]
        assert urlparse(url).path == f"/{database}"
        members = render.get("MongoDBCommunity", name)["spec"]["members"]
        assert urlparse(url).netloc.count(f".{name}-svc.{NAMESPACE}.svc.cluster.local:27017") == members
        # The URL leaves the durability to the adapter's defaults.
        options = client_options(url)
        assert options["w"] == "majority" and options["journal"] is True
        assert options["readConcernLevel"] == "majority" and options["retryWrites"] is True


# --- the same processes as under Docker Compose -----------------------------------------

def _container(render: Render, deployment: str) -> dict:
    (container,) = render.deployments[deployment]["spec"]["template"]["spec"]["containers"]
    return container


def _app_deployments(render: Render) -> list[str]:
    return [name for name in render.deployments if name != "gateway"]


def test_the_same_image_and_commands_as_compose(render, compose):
    services = compose["services"]
    images = set()
    for name in _app_deployments(render):
        container = _container(render, name)
        assert container["command"] == services[name]["command"], name
        images.add(container["image"])
    # One image for every process, as the Dockerfile builds it: Compose's default, or the overlay's.
    assert services["clientes"]["image"] == "${IMAGE:-incidencias:latest}"
    kustomization = yaml.safe_load((render.overlay / "kustomization.yaml").read_text())
    expected = {f"{i['newName']}:{i['newTag']}" for i in kustomization.get("images", [])} or {"incidencias:latest"}
    assert images == expected
    assert set(_app_deployments(render)) == {name for name, spec in services.items() if "build" in spec}
    assert _container(render, "gateway")["image"] == services["gateway"]["image"]


def test_the_production_overlay_names_one_image(production):
    images = {_container(production, name)["image"] for name in _app_deployments(production)}
    (image,) = images
    assert not image.endswith(":latest")


def _compose_env(compose, render: Render) -> dict[str, dict[str, str]]:
    """docker-compose.yml's environments, interpolated with this render's secrets."""
    rabbit = render.secret_data("rabbitmq-default-user")
    values = {
        "RABBITMQ_USER": rabbit["username"], "RABBITMQ_PASSWORD": rabbit["password"],
        "CLIENTES_JWT_PRIVATE_KEY": render.secret_data("clientes-jwt")["JWT_PRIVATE_KEY"],
        "EMPLEADOS_JWT_PRIVATE_KEY": render.secret_data("empleados-jwt")["JWT_PRIVATE_KEY"],
        **render.secret_data("empleados-admin"), **render.secret_data("portal-secret-key"),
    }
    resolved = interpolate(compose, values)
    return {name: {k: str(v) for k, v in spec.get("environment", {}).items()}
            for name, spec in resolved["services"].items()}


def test_the_same_environment_as_compose(render, compose):
    composed = _compose_env(compose, render)
    for name in _app_deployments(render):
        container = _container(render, name)
        declared = {v["name"] for v in container.get("env", [])} | {
            key for source in container.get("envFrom", [])
            for key in render.get("ConfigMap", source["configMapRef"]["name"])["data"]}
        assert declared - HELPER_VARIABLES == set(composed[name]), name
        env = render.container_env(container)
        for variable, value in composed[name].items():
            if variable not in DIFFERS_FROM_COMPOSE:
                assert env[variable] == value, (name, variable)
    # The portal keeps Compose's four sync workers.
    assert render.container_env(_container(render, PORTAL))["WEB_CONCURRENCY"] == composed[PORTAL]["WEB_CONCURRENCY"]


def test_the_same_health_checks_as_compose(render, compose):
    for name in _app_deployments(render):
        container = _container(render, name)
        healthcheck = compose["services"][name].get("healthcheck")
        if "worker" in name:
            assert healthcheck is None and not {"readinessProbe", "livenessProbe"} & set(container)
            continue
        port = int(container["ports"][0]["containerPort"])
        assert f"http://127.0.0.1:{port}/salud'" in " ".join(healthcheck["test"])
        probe = container["readinessProbe"]["httpGet"]
        assert (probe["path"], probe["port"]) == ("/salud", "http")
        assert container["livenessProbe"]["httpGet"]["path"] == "/salud/vivo"
        forwarded = "X-Forwarded-Proto" in " ".join(healthcheck["test"])
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            headers = {h["name"]: h["value"] for h in container[kind]["httpGet"].get("httpHeaders", [])}
            assert headers == ({"X-Forwarded-Proto": "https"} if forwarded else {}), (name, kind)
    gateway = _container(render, "gateway")
    assert "/salud" in " ".join(compose["services"]["gateway"]["healthcheck"]["test"])
    assert gateway["readinessProbe"]["httpGet"]["path"] == gateway["livenessProbe"]["httpGet"]["path"] == "/salud"


# --- what the services read ---------------------------------------------------------------

def _settings_class(command: list[str]):
    package = command[-1].split(".")[0]  # "<package>.app:create_app()" or "<package>.worker"
    module = __import__(f"{package}.config", fromlist=["config"])
    classes = [getattr(module, n) for n in dir(module) if n.endswith("Settings") and n not in (
        "Settings", "IssuerSettings", "BaseSettings")]
    (found,) = [c for c in classes if c.__module__ == module.__name__]
    return found


def _variable_names(settings_class, field: str) -> list[str]:
    info = settings_class.model_fields[field]
    alias = info.validation_alias
    return [str(choice).upper() for choice in alias.choices] if alias is not None else [field.upper()]


# Settings with no default, or a default that only works on a laptop, that a
# process may still leave unset: what then happens is fine.
MAY_BE_UNSET = {
    "test_clock_file": "tests only; refused outside ENVIRONMENT=test",
    "smtp_url": "mails wait in the outbox until a relay is given (the optional Secret smtp-relay)",
}


def _needed_fields(settings_class) -> set[str]:
    from common.config import IssuerSettings

    needed = set()
    for field, info in settings_class.model_fields.items():
        default = info.default
        if field in MAY_BE_UNSET:
            continue
        if field == "jwt_private_key" and not issubclass(settings_class, IssuerSettings):
            continue  # only the issuers sign
        if default is None or (isinstance(default, str) and re.search(r"localhost|127\.0\.0\.1", default)):
            needed.add(field)
    return needed


def test_every_setting_without_a_usable_default_is_set(render):
    for name in _app_deployments(render):
        container = _container(render, name)
        settings_class = _settings_class(container["command"])
        env = render.container_env(container)
        for field in _needed_fields(settings_class):
            assert set(_variable_names(settings_class, field)) & set(env), (name, field)
        assert "MONGO_URL" in env or settings_class.__name__ == "PortalSettings", name


@pytest.fixture
def clean_environment(monkeypatch):
    """os.environ without any variable a settings class would read (CI sets MONGO_URL, for one)."""
    def isolate(settings_class, env: dict[str, str]):
        known = {n.lower() for field in settings_class.model_fields for n in _variable_names(settings_class, field)}
        for key in list(os.environ):
            if key.lower() in known:
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return settings_class()
    return isolate


def test_the_services_accept_their_environment_in_production(render, clean_environment):
    from common.tokens import load_private_key

    for name in _app_deployments(render):
        container = _container(render, name)
        settings_class = _settings_class(container["command"])
        settings = clean_environment(settings_class, render.container_env(container))
        assert settings.environment == "production", name
        if hasattr(settings, "mongo_url"):
            assert settings.storage_url.startswith("mongodb://"), name
            assert settings.amqp_url.startswith("amqp://incidencias:"), name
        if getattr(settings, "jwt_private_key", None) is not None:
            load_private_key(settings.jwt_private_key.get_secret_value())
        if settings_class.__name__ == "PortalSettings":
            assert settings.api_urls == {
                "clientes": "http://clientes:8001", "apertura": "http://incidencias-apertura:8002",
                "resolucion": "http://incidencias-resolucion:8003", "empleados": "http://empleados:8004"}


@pytest.mark.parametrize("variable, deployment", [
    ("JWT_PRIVATE_KEY", "clientes"), ("JWT_PRIVATE_KEY", "empleados-worker"), ("ADMIN_PASSWORD", "empleados"),
    ("PORTAL_SECRET_KEY", "portal")])
def test_a_placeholder_secret_is_refused_in_production(production, clean_environment, variable, deployment):
    from pydantic import ValidationError

    from common.config import ConfigError

    container = _container(production, deployment)
    env = production.container_env(container, overrides={variable: "changeme"})
    with pytest.raises((ConfigError, ValidationError), match=variable):
        clean_environment(_settings_class(container["command"]), env)


# --- references -------------------------------------------------------------------------

def _secret_references(render: Render):
    """(Secret name, key or None, optional, where) for everything that names a Secret."""
    for doc in render.docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        for spec in _pod_specs(doc):
            for volume in spec.get("volumes", []):
                if "secret" in volume:
                    yield volume["secret"]["secretName"], None, volume["secret"].get("optional", False), where
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                for source in container.get("envFrom", []):
                    if "secretRef" in source:
                        yield source["secretRef"]["name"], None, source["secretRef"].get("optional", False), where
                for variable in container.get("env", []):
                    ref = variable.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        yield ref["name"], ref["key"], ref.get("optional", False), where
        if doc["kind"] == "Ingress":
            for tls in doc["spec"].get("tls", []):
                yield tls["secretName"], None, False, where
        if doc["kind"] == "RabbitmqCluster":
            yield doc["spec"]["secretBackend"]["externalSecret"]["name"], "default_user.conf", False, where
        if doc["kind"] == "MongoDBCommunity":
            for user in doc["spec"]["users"]:
                ref = user["passwordSecretRef"]
                yield ref["name"], ref.get("key", "password"), False, where


def test_every_secret_referenced_exists(render):
    for name, key, optional, where in _secret_references(render):
        data = render.secret_data(name)
        if data is not None:
            assert key is None or key in data, (where, name, key)
        elif render.operator_secret(name):
            assert key in CONNECTION_SECRET_KEYS, (where, name, key)
        else:
            assert optional or name in EXTERNAL_SECRETS, f"{where} needs the Secret {name}, which nothing makes"


def test_secrets_are_generated_only_by_the_overlays():
    text = "".join(path.read_text() for path in (KUBE / "base").rglob("*.yaml"))
    assert "kind: Secret" not in text and "secretGenerator" not in text
    for overlay in OVERLAYS:
        kustomization = yaml.safe_load((KUBE / "overlays" / overlay / "kustomization.yaml").read_text())
        for generator in kustomization["secretGenerator"]:
            assert not generator.get("literals") or generator["name"] == "rabbitmq-default-user"
            assert all(source.split("=", 1)[1].startswith("secrets/") for source in generator["files"])
    assert (KUBE / ".gitignore").read_text().splitlines()[-1] == "overlays/*/secrets/"


def test_both_overlays_make_the_same_secrets(renders):
    shapes = [{doc["metadata"]["name"]: sorted(doc["data"]) for doc in r.of("Secret")} for r in renders.values()]
    assert shapes[0] == shapes[1]


def test_every_configmap_referenced_exists(render):
    names = {doc["metadata"]["name"]: doc for doc in render.of("ConfigMap")}
    for doc in render.docs:
        for spec in _pod_specs(doc):
            for volume in spec.get("volumes", []):
                if "configMap" in volume:
                    assert volume["configMap"]["name"] in names, volume
            for container in spec.get("containers", []):
                for source in container.get("envFrom", []):
                    if "configMapRef" in source:
                        assert source["configMapRef"]["name"] in names, source
                for variable in container.get("env", []):
                    ref = variable.get("valueFrom", {}).get("configMapKeyRef")
                    if ref:
                        assert ref["key"] in names[ref["name"]]["data"], ref


def _template_labels(deployment: dict) -> dict:
    return deployment["spec"]["template"]["metadata"]["labels"]


def _selects(selector: dict, labels: dict) -> bool:
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        value, operator = labels.get(expression["key"]), expression["operator"]
        if operator == "In" and value not in expression["values"]:
            return False
        if operator == "NotIn" and value in expression.get("values", []):
            return False
        if operator == "Exists" and expression["key"] not in labels:
            return False
        if operator == "DoesNotExist" and expression["key"] in labels:
            return False
    return True


def test_every_service_selects_the_pods_of_one_deployment(render):
    for service in render.of("Service"):
        selected = [d for d in render.of("Deployment") if _selects({"matchLabels": service["spec"]["selector"]},
                                                                    _template_labels(d))]
        assert len(selected) == 1, service["metadata"]["name"]
        ports = {p["name"]: p["containerPort"] for c in _containers(selected[0]) for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert ports[port["targetPort"]] == port["port"], service["metadata"]["name"]
    for deployment in render.of("Deployment"):
        assert _selects(deployment["spec"]["selector"], _template_labels(deployment))
        assert _template_labels(deployment)["app.kubernetes.io/part-of"] == "incidencias"


def test_the_ingress_sends_everything_to_the_gateway(render):
    (ingress,) = render.of("Ingress")
    for rule in ingress["spec"]["rules"]:
        (path,) = rule["http"]["paths"]
        assert (path["path"], path["pathType"]) == ("/", "Prefix")
        assert path["backend"]["service"] == {"name": "gateway", "port": {"name": "http"}}
    assert render.get("Service", "gateway")["spec"]["ports"][0]["name"] == "http"


def test_production_serves_one_host_over_tls(production):
    ingress = production.get("Ingress", "incidencias")
    (rule,) = ingress["spec"]["rules"]
    (tls,) = ingress["spec"]["tls"]
    assert tls["hosts"] == [rule["host"]]
    portal_url = production.named("ConfigMap", "servicios-env")["data"]["PORTAL_URL"]
    assert portal_url == f"https://{rule['host']}"


# --- probes, hardening, scaling -------------------------------------------------------------

def test_every_probe_path_is_served(render, tmp_path, clean_environment):
    from flask import Flask

    apps: dict[str, Flask] = {}
    local = {"ENVIRONMENT": "test", "DATA_DIR": str(tmp_path), "KEYS_DIR": str(tmp_path)}  # SQLite, made keys
    for name in _app_deployments(render):
        container = _container(render, name)
        if container["command"][0] != "gunicorn":
            continue
        package = container["command"][-1].split(".")[0]
        if package not in apps:
            module = __import__(f"{package}.app", fromlist=["create_app"])
            apps[package] = module.create_app(clean_environment(_settings_class(container["command"]), local))
        adapter = apps[package].url_map.bind("localhost")
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            adapter.match(container[kind]["httpGet"]["path"], method="GET")  # NotFound otherwise
    for app in apps.values():
        store = app.extensions.get("incidencias")
        if store is not None:
            store.store.close()
    gateway = (KUBE / "base/gateway/gateway.conf").read_text()
    assert "location = /salud {" in gateway


def test_every_container_runs_unprivileged_on_a_read_only_root(render):
    for deployment in render.of("Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["seccompProfile"] == {"type": "RuntimeDefault"}
        user = NGINX_USER if deployment["metadata"]["name"] == "gateway" else APP_USER
        assert pod["runAsUser"] == pod["runAsGroup"] == user
        assert spec["automountServiceAccountToken"] is False and spec["enableServiceLinks"] is False
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                               "capabilities": {"drop": ["ALL"]}}, deployment["metadata"]["name"]
            mounts = {m["mountPath"]: volumes[m["name"]] for m in container.get("volumeMounts", [])}
            # Where gunicorn keeps its heartbeat files and the multi-process metrics
            # (common/gunicorn_config.py: PROMETHEUS_MULTIPROC_DIR under the temporary directory).
            assert "emptyDir" in mounts["/tmp"]
            for path, volume in mounts.items():
                assert "emptyDir" in volume or volume.get("configMap") and path == "/etc/nginx/conf.d", path
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[bound]), deployment["metadata"]["name"]
    gateway = render.get("Deployment", "gateway")["spec"]["template"]["spec"]
    assert gateway["securityContext"]["sysctls"] == [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    assert {m["mountPath"] for m in gateway["containers"][0]["volumeMounts"]} == {
        "/etc/nginx/conf.d", "/var/cache/nginx", "/run", "/tmp"}


def test_the_image_user_and_environment_the_manifests_assume():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f"USER {APP_USER}:{APP_USER}" in dockerfile and "HOST=0.0.0.0" in dockerfile
    assert "PROMETHEUS_MULTIPROC_DIR" not in dockerfile  # so gunicorn makes it under /tmp
    assert "tempfile.mkdtemp" in (REPO / "common/gunicorn_config.py").read_text()


def test_every_deployment_has_an_hpa_and_a_pdb_in_production(production):
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in production.of("HorizontalPodAutoscaler")}
    assert set(hpas) == set(production.deployments)
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
        # The HPA owns the count: the Deployment does not fight it on every apply.
        assert "replicas" not in production.deployments[name]["spec"]
    pdbs = production.of("PodDisruptionBudget")
    for name, deployment in production.deployments.items():
        matching = [p for p in pdbs if _selects(p["spec"]["selector"], _template_labels(deployment))]
        assert len(matching) == 1 and matching[0]["spec"]["maxUnavailable"] == 1, name
    for data_store in [{"app.kubernetes.io/name": "rabbitmq", "app.kubernetes.io/component": "rabbitmq"}] + [
            {"app": f"{name}-svc"} for name, _ in MONGO.values()]:
        assert sum(_selects(p["spec"]["selector"], data_store) for p in pdbs) == 1, data_store


def test_local_runs_one_small_pod_of_each(renders):
    local, production = renders["local"], renders["production"]
    assert not local.of("HorizontalPodAutoscaler") and not local.of("PodDisruptionBudget")
    for name, deployment in local.deployments.items():
        assert deployment["spec"].get("replicas", 1) == 1
        if name != "gateway":
            assert _container(local, name)["resources"] != _container(production, name)["resources"], name
    assert local.named("ConfigMap", "portal-env")["data"]["PORTAL_SECURE_COOKIES"] == "false"
    assert production.named("ConfigMap", "portal-env")["data"]["PORTAL_SECURE_COOKIES"] == "true"


# --- NetworkPolicies ------------------------------------------------------------------------

class Pod:
    def __init__(self, name: str, labels: dict, namespace: str = NAMESPACE, external: bool = False):
        self.name, self.labels, self.namespace, self.external = name, labels, namespace, external

    def __repr__(self):
        return self.name


def _namespace_labels(namespace: str) -> dict:
    return {"kubernetes.io/metadata.name": namespace}


def _peer_matches(peer: dict, pod: Pod, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        return pod.external  # the blocks used here are whole address families
    if pod.external:
        return False
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], _namespace_labels(pod.namespace)):
            return False
    elif pod.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or _selects(peer["podSelector"], pod.labels)


def _port_matches(ports: list[dict] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    return any(p.get("protocol", "TCP") == protocol and p["port"] <= port <= p.get("endPort", p["port"])
               for p in ports)


class Policies:
    """A NetworkPolicy evaluator: a connection is allowed when no policy
    isolates the destination for ingress (or one admits it) and none
    isolates the source for egress (or one admits it)."""

    def __init__(self, policies: list[dict]):
        self.policies = policies

    def _isolating(self, pod: Pod, direction: str) -> list[dict]:
        return [p for p in self.policies if not pod.external and p["metadata"]["namespace"] == pod.namespace
                and direction in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], pod.labels)]

    def allowed(self, source: Pod, destination: Pod, port: int, protocol: str = "TCP") -> bool:
        ingress = self._isolating(destination, "Ingress")
        if ingress and not any(
                _port_matches(rule.get("ports"), port, protocol)
                and any(_peer_matches(peer, source, p["metadata"]["namespace"]) for peer in rule.get("from", [{}]))
                for p in ingress for rule in p["spec"].get("ingress", [])):
            return False
        egress = self._isolating(source, "Egress")
        return not egress or any(
            _port_matches(rule.get("ports"), port, protocol)
            and any(_peer_matches(peer, destination, p["metadata"]["namespace"]) for peer in rule.get("to", [{}]))
            for p in egress for rule in p["spec"].get("egress", []))


@pytest.fixture(scope="module")
def network(production):
    pods = {name: Pod(name, _template_labels(d)) for name, d in production.deployments.items()}
    for name, _ in MONGO.values():
        pods[name] = Pod(name, {"app": f"{name}-svc"})  # the MongoDB operator's pod labels
    pods["rabbitmq"] = Pod("rabbitmq", {"app.kubernetes.io/name": "rabbitmq",  # the RabbitMQ operator's
                                        "app.kubernetes.io/component": "rabbitmq",
                                        "app.kubernetes.io/part-of": "rabbitmq"})
    outside = {
        "ingress-controller": Pod("ingress-controller", {"app.kubernetes.io/name": "ingress-nginx"}, "ingress-nginx"),
        "dns": Pod("dns", {"k8s-app": "kube-dns"}, "kube-system"),
        "prometheus": Pod("prometheus", {"app.kubernetes.io/name": "prometheus"}, "monitoring"),
        "rabbitmq-operator": Pod("rabbitmq-operator", {"app.kubernetes.io/component": "rabbitmq-operator"},
                                 "rabbitmq-system"),
        "stranger": Pod("stranger", {"app": "other"}, "default"),
        "debug-pod": Pod("debug-pod", {"run": "debug"}),
        "internet": Pod("internet", {}, namespace="", external=True),
    }
    return Policies(production.of("NetworkPolicy")), pods, outside


def _ports(deployment: dict) -> list[int]:
    return [p["containerPort"] for c in _containers(deployment) for p in c.get("ports", [])]


def test_each_mongodb_is_reachable_only_from_its_own_service(network):
    policies, pods, outside = network
    for service, (name, _) in MONGO.items():
        own = {WEB[service], f"{WEB[service]}-worker", name}
        reach = {source.name for source in [*pods.values(), *outside.values()]
                 if policies.allowed(source, pods[name], 27017)}
        assert reach == own, (name, reach)


def test_only_the_ingress_controller_reaches_the_gateway(network):
    policies, pods, outside = network
    reach = {s.name for s in [*pods.values(), *outside.values()] if policies.allowed(s, pods["gateway"], 80)}
    assert reach == {"ingress-controller"}


def test_the_portal_and_the_apis_are_reached_only_as_intended(network, production):
    policies, pods, outside = network
    everyone = [*pods.values(), *outside.values()]
    assert {s.name for s in everyone if policies.allowed(s, pods[PORTAL], PORTAL_PORT)} == {"gateway"}
    key_readers = {"clientes": {"incidencias-apertura", "incidencias-resolucion"},
                   "empleados": {"clientes", "incidencias-apertura", "incidencias-resolucion"}}
    for service, name in WEB.items():
        port = SERVICES[service]
        reach = {s.name for s in everyone if policies.allowed(s, pods[name], port)}
        assert reach == {"gateway", PORTAL, "prometheus"} | key_readers.get(name, set()), (name, reach)
        assert _ports(production.deployments[name]) == [port]


def test_rabbitmq_is_reached_by_the_services_and_its_own_nodes(network):
    policies, pods, outside = network
    everyone = [*pods.values(), *outside.values()]
    amqp = {s.name for s in everyone if policies.allowed(s, pods["rabbitmq"], 5672)}
    assert amqp == {name for name in WEB.values()} | {f"{name}-worker" for name in WEB.values()}
    assert {s.name for s in everyone if policies.allowed(s, pods["rabbitmq"], 25672)} == {"rabbitmq"}
    assert {s.name for s in everyone if policies.allowed(s, pods["rabbitmq"], 15672)} == {"rabbitmq-operator"}


def test_what_the_system_needs_is_allowed(network):
    policies, pods, outside = network
    needed = [("gateway", PORTAL, PORTAL_PORT)] + [("gateway", WEB[s], p) for s, p in SERVICES.items()]
    needed += [(PORTAL, WEB[s], p) for s, p in SERVICES.items()]
    for service, (mongo, _) in MONGO.items():
        for process in (WEB[service], f"{WEB[service]}-worker"):
            needed += [(process, "rabbitmq", 5672), (process, mongo, 27017)]
        needed.append((mongo, mongo, 27017))  # the replica set's members
    needed += [("incidencias-apertura", "clientes", 8001), ("incidencias-apertura", "empleados", 8004),
               ("incidencias-resolucion", "clientes", 8001), ("incidencias-resolucion", "empleados", 8004),
               ("clientes", "empleados", 8004), ("rabbitmq", "rabbitmq", 25672), ("rabbitmq", "rabbitmq", 4369)]
    for source, destination, port in needed:
        assert policies.allowed(pods[source], pods[destination], port), (source, destination, port)
    for name in pods:
        if name in WEB.values() or "worker" in name or name in (PORTAL, "gateway"):
            assert policies.allowed(pods[name], outside["dns"], 53, "UDP"), name
            assert policies.allowed(pods[name], outside["dns"], 53, "TCP"), name
            # Mail leaves from the workers only; nothing else opens a connection outside.
            assert policies.allowed(pods[name], outside["internet"], 587) == ("worker" in name), name
            assert not policies.allowed(pods[name], outside["internet"], 443), name
    assert policies.allowed(outside["ingress-controller"], pods["gateway"], 80)
    assert policies.allowed(outside["rabbitmq-operator"], pods["rabbitmq"], 15672)


def test_every_pod_is_isolated_for_ingress(production):
    (deny,) = [p for p in production.of("NetworkPolicy") if p["metadata"]["name"] == "default-deny-ingress"]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


# --- the gateway --------------------------------------------------------------------------

def test_the_gateway_configuration_is_the_repository_file(render):
    configmap = render.named("ConfigMap", "gateway-conf")
    source = (REPO / "deploy/nginx/gateway.conf").read_text()
    assert (KUBE / "base/gateway/gateway.conf").read_text() == source, (
        "deploy/kubernetes/base/gateway/gateway.conf differs from deploy/nginx/gateway.conf: "
        "cp deploy/nginx/gateway.conf deploy/kubernetes/base/gateway/gateway.conf")
    assert configmap["data"]["default.conf"] == source
    volume = render.get("Deployment", "gateway")["spec"]["template"]["spec"]["volumes"][0]
    assert volume == {"name": "conf", "configMap": {"name": configmap["metadata"]["name"]}}


def _upstreams(text: str) -> dict[str, str]:
    return dict(re.findall(r"upstream (\w+) \{\s*server ([\w.-]+:\d+);", text))


def test_the_gateway_upstreams_are_the_compose_ones_and_exist(render):
    upstreams = _upstreams(render.named("ConfigMap", "gateway-conf")["data"]["upstreams.conf"])
    assert upstreams == _upstreams((REPO / "deploy/nginx/upstreams.compose.conf").read_text())
    gateway = (REPO / "deploy/nginx/gateway.conf").read_text()
    assert set(upstreams) == set(re.findall(r"proxy_pass http://(\w+);", gateway))
    for address in upstreams.values():
        host, port = address.split(":")
        service = render.get("Service", host)
        assert [p["port"] for p in service["spec"]["ports"]] == [int(port)]


def _gateway_files(render: Render, directory: Path, port: int, upstream_port: int) -> Path:
    """The gateway's ConfigMap as nginx loads it, on loopback ports (no cluster DNS here)."""
    data = render.named("ConfigMap", "gateway-conf")["data"]
    (directory / "conf.d").mkdir()
    (directory / "conf.d/default.conf").write_text(
        data["default.conf"].replace("listen 80 default_server;", f"listen 127.0.0.1:{port} default_server;"))
    (directory / "conf.d/upstreams.conf").write_text(
        re.sub(r"server [\w.-]+:\d+;", f"server 127.0.0.1:{upstream_port};", data["upstreams.conf"]))
    # Loopback stands for the ingress controller's pod address, in place of the pod networks.
    realip, trusted = re.subn(r"set_real_ip_from [0-9a-f.:/]+;", "set_real_ip_from 127.0.0.0/8;", data["realip.conf"])
    assert trusted >= 3, data["realip.conf"]
    (directory / "conf.d/realip.conf").write_text(realip)
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / name).mkdir()
    (directory / "nginx.conf").write_text(f"""
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
{"user root root;" if os.geteuid() == 0 else ""}
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/conf.d/*.conf;
}}
""")
    return directory / "nginx.conf"


def test_the_gateway_throttles_logins_per_client_behind_the_ingress(production, tmp_path):
    """realip.conf: the login throttle counts the address the ingress
    controller puts in X-Real-IP, not the controller's own."""
    binary = nginx_binary()
    port = free_port()
    config = _gateway_files(production, tmp_path, port, free_port())
    check = subprocess.run([binary, "-t", "-p", str(tmp_path), "-c", str(config)], capture_output=True, text=True,
                           timeout=30, check=False)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen([binary, "-p", str(tmp_path), "-c", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        def up():
            assert process.poll() is None, (tmp_path / "error.log").read_text()
            return http_request(port, "GET", "/salud")[0] == 200

        wait_until(up, 20, what="nginx answering")
        statuses = [http_request(port, "POST", "/entrar", b"x", {"X-Real-IP": "203.0.113.7"})[0] for _ in range(14)]
        assert statuses.count(429) >= 2 and statuses[0] != 429
        # Another client behind the same controller is not throttled with the first.
        assert http_request(port, "POST", "/entrar", b"x", {"X-Real-IP": "203.0.113.8"})[0] != 429
    finally:
        stop(process)


# --- files ----------------------------------------------------------------------------------

def test_gen_secrets_writes_private_fresh_secrets(tmp_path):
    from common.tokens import load_private_key

    overlays = []
    for name in ("a", "b"):
        overlay = tmp_path / name
        overlay.mkdir()
        (overlay / "kustomization.yaml").write_text("resources: []\n")
        result = gen_secrets(overlay, "admin@example.com")
        assert result.returncode == 0, result.stderr
        assert "first admin: admin@example.com / Adm1n-" in result.stdout
        overlays.append(overlay / "secrets")
    a, b = ({p.name: p.read_text() for p in d.iterdir()} for d in overlays)
    assert stat.S_IMODE(overlays[0].stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in overlays[0].iterdir())
    assert set(a) == set(b) and a["admin-email"] == "admin@example.com"
    for name in set(a) - {"admin-email"}:
        assert a[name] != b[name], name
    for key in ("clientes-jwt-private-key.pem", "empleados-jwt-private-key.pem"):
        load_private_key(a[key])
    assert re.fullmatch(r"[0-9a-f]{64}", a["portal-secret-key"])
    assert not any(v.endswith("\n") for k, v in a.items() if not k.endswith((".pem", ".conf")))


def test_gen_secrets_never_overwrites(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\n")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets/keep").write_text("1")
    result = gen_secrets(tmp_path)
    assert result.returncode == 1 and "exists" in result.stderr
    assert [p.name for p in (tmp_path / "secrets").iterdir()] == ["keep"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kustomization.yaml", "secrets"]
    assert gen_secrets(tmp_path / "nowhere").returncode == 1


def test_gen_secrets_is_shellcheck_clean():
    result = run([tool("shellcheck"), "deploy/kubernetes/gen-secrets.sh"])
    assert result.returncode == 0, result.stdout
    assert (KUBE / "gen-secrets.sh").stat().st_mode & stat.S_IXUSR


def test_manifests_are_clean_yaml():
    result = run([tool("yamllint"), "-d",
                  "{extends: default, rules: {line-length: {max: 120}, document-start: disable}}",
                  "deploy/kubernetes"])
    assert result.returncode == 0, result.stdout + result.stderr
