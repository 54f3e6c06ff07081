"""provision/: lint, syntax, agreement with the code base, the Azure script
(with a stand-in az) and the fingerprint that tells CI when the slow chroot
run (tests/deploy/provision_chroot_test.sh, `make test-provision`) is due."""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import stat
import subprocess

import pytest
import yaml

from deploy_helpers import (API_URL_VARIABLES, PORTAL, PORTAL_PORT, PREFIXES, REPO, SERVICES, load_yaml, run,
                            runtime_packages, tool, tool_env)

ROLE = "provision/roles/incidencias"


def test_ansible_lint_production_profile_is_clean():
    result = run([tool("ansible-lint"), "-c", "provision/.ansible-lint", "provision/"], timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in result.stderr + result.stdout


def test_playbook_syntax_check():
    env = tool_env() | {"ANSIBLE_CONFIG": str(REPO / "provision/ansible.cfg")}
    result = run([tool("ansible-playbook"), "-i", "inventory.example.yml", "site.yml", "--syntax-check"],
                 cwd=REPO / "provision", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_inventory_example_puts_a_host_in_the_group():
    env = tool_env() | {"ANSIBLE_CONFIG": str(REPO / "provision/ansible.cfg")}
    result = run([tool("ansible-inventory"), "-i", "inventory.example.yml", "--list"], cwd=REPO / "provision", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["incidencias"]["hosts"]


def test_the_archive_carries_every_runtime_package():
    paths = load_yaml(f"{ROLE}/defaults/main.yml")["incidencias_source_paths"]
    assert set(paths) == set(runtime_packages()) | {"requirements.txt"}


def test_the_role_knows_the_services_and_their_ports():
    services = load_yaml(f"{ROLE}/defaults/main.yml")["incidencias_services"]
    assert {s["name"]: s["port"] for s in services} == SERVICES


def test_vm_upstreams_match_the_gateway_and_the_ports():
    upstreams = load_yaml("provision/roles/gateway/defaults/main.yml")["gateway_upstreams"]
    expected = {f"incidencias_{prefix.rsplit('/', 1)[1]}": f"127.0.0.1:{SERVICES[service]}"
                for service, prefix in PREFIXES.items()}
    expected["incidencias_portal"] = f"127.0.0.1:{PORTAL_PORT}"
    assert {u["name"]: u["server"] for u in upstreams} == expected
    gateway = (REPO / "deploy/nginx/gateway.conf").read_text()
    assert set(re.findall(r"proxy_pass http://(\w+);", gateway)) == set(expected)


def test_every_vault_variable_has_an_example():
    referenced = set(re.findall(r"vault_\w+", (REPO / "provision/group_vars/all/main.yml").read_text()))
    example = load_yaml("provision/secrets.example.yml")
    assert referenced == set(example)


def test_unit_templates_follow_the_process_conventions():
    web = (REPO / ROLE / "templates/incidencias-web@.service.j2").read_text()
    worker = (REPO / ROLE / "templates/incidencias-worker@.service.j2").read_text()
    assert ('--config python:common.gunicorn_config --bind {{ incidencias_bind_address }}:${PORT} '
            '"%i.app:create_app()"') in web
    assert "-m %i.worker" in worker
    for unit in (web, worker):
        assert "EnvironmentFile={{ incidencias_config_dir }}/%i.env" in unit
        assert "User={{ incidencias_user }}" in unit and "WantedBy=incidencias.target" in unit


def role_jinja():
    """Jinja2 with the few Ansible filters the role's templates and variables use."""
    import jinja2

    env = jinja2.Environment(keep_trailing_newline=True, trim_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["bool"] = lambda value: value if isinstance(value, bool) else str(value).lower() in {"true", "yes", "1"}
    env.filters["regex_replace"] = lambda value, pattern, replacement: re.sub(pattern, replacement, value)
    env.filters["zip"] = lambda first, second: zip(first, second)
    return env


def role_variables(**overrides):
    defaults = load_yaml(f"{ROLE}/defaults/main.yml")
    variables = {key: value for key, value in load_yaml(f"{ROLE}/vars/main.yml").items()
                 if key not in {"incidencias_distribution", "incidencias_units", "incidencias_web_processes"}}
    return {**defaults, **variables, "ansible_managed": "Ansible managed", **overrides}


def env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines as systemd reads them (single quotes removed)."""
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value[1:-1] if value.startswith("'") and value.endswith("'") else value
    return values


def test_the_portal_is_one_more_web_unit_without_a_worker():
    variables = role_variables()
    units = load_yaml(f"{ROLE}/vars/main.yml")["incidencias_units"]
    rendered = ast.literal_eval(role_jinja().from_string(units).render(**variables).strip())
    assert "incidencias-web@portal.service" in rendered
    assert "incidencias-worker@portal.service" not in rendered
    assert len(rendered) == 2 * len(SERVICES) + 1
    processes = load_yaml(f"{ROLE}/vars/main.yml")["incidencias_web_processes"]
    assert "'name': 'portal', 'port': incidencias_portal_port" in processes
    assert variables["incidencias_portal_port"] == PORTAL_PORT
    assert PORTAL in load_yaml(f"{ROLE}/defaults/main.yml")["incidencias_source_paths"]


def test_the_portal_environment_file():
    text = (REPO / ROLE / "templates/portal.env.j2").read_text()
    values = env_file(role_jinja().from_string(text).render(
        **role_variables(incidencias_portal_secret_key="k" * 40)))
    assert values["SERVICE"] == PORTAL and values["PORT"] == str(PORTAL_PORT)
    assert values["ENVIRONMENT"] == "production"
    assert values["PORTAL_SECRET_KEY"] == "k" * 40
    assert values["PORTAL_SECURE_COOKIES"] == "true"
    assert values["GUNICORN_WORKER_CLASS"] == "sync"
    assert values["FORWARDED_ALLOW_IPS"] == "127.0.0.1"  # nginx, on this machine
    assert values["KEYS_DIR"] == "/var/lib/incidencias/portal/keys"
    for service, variable in API_URL_VARIABLES.items():
        assert values[variable] == f"http://127.0.0.1:{SERVICES[service]}", variable
    assert not {"AMQP_URL", "MONGO_URL", "JWT_PRIVATE_KEY", "ADMIN_PASSWORD"} & set(values)
    plain = env_file(role_jinja().from_string(text).render(
        **role_variables(incidencias_portal_secret_key="k" * 40, incidencias_portal_secure_cookies=False,
                         incidencias_portal_extra_env={"PORTAL_CATEGORIAS": "envios,otros"})))
    assert plain["PORTAL_SECURE_COOKIES"] == "false" and plain["PORTAL_CATEGORIAS"] == "envios,otros"


def test_the_portal_environment_is_written_and_restarts_only_the_portal():
    tasks = load_yaml(f"{ROLE}/tasks/services.yml")
    (write,) = [task for task in tasks if task.get("ansible.builtin.template", {}).get("src") == "portal.env.j2"]
    assert write["ansible.builtin.template"]["dest"] == "{{ incidencias_config_dir }}/portal.env"
    assert write["ansible.builtin.template"]["mode"] == "0640" and write["diff"] is False
    register = write["register"]
    (restart,) = [task for task in tasks if f"{register} is changed" in str(task.get("ansible.builtin.set_fact"))]
    assert "[incidencias_portal_unit]" in restart["ansible.builtin.set_fact"]["incidencias_restart_units"]
    assert load_yaml(f"{ROLE}/vars/main.yml")["incidencias_portal_unit"] == "incidencias-web@portal.service"
    # Its directories, like every service's (the web unit may write there and nowhere else).
    system = load_yaml(f"{ROLE}/tasks/system.yml")
    assert any("incidencias_web_processes | product" in str(task.get("loop", "")) for task in system)


def test_the_playbook_refuses_a_missing_portal_key():
    validate = load_yaml(f"{ROLE}/tasks/validate.yml")
    (check,) = [task for task in validate if "portal" in task["name"]]
    conditions = " ".join(check["ansible.builtin.assert"]["that"])
    assert "incidencias_portal_secret_key | length >= 32" in conditions and "replace" in conditions
    assert "incidencias_portal_secret_key" in (REPO / "provision/group_vars/all/main.yml").read_text()


def write_fake_az(directory, ip="198.51.100.7", vm_exists=False):
    """An az that logs its arguments and answers like the real one."""
    log = directory / "az.log"
    script = directory / "az"
    script.write_text(f"""#!/usr/bin/env bash
printf '%s\\n' "$*" >> {log}
case "$1 $2" in
  "account show") exit 0 ;;
  "vm show")
    if [[ " $* " == *" --show-details "* ]]; then echo {ip}; exit 0; fi
    exit {0 if vm_exists else 3} ;;
esac
exit 0
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return log


@pytest.mark.parametrize("vm_exists", [False, True])
def test_azure_script_creates_the_vm_from_its_variables(tmp_path, vm_exists):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = write_fake_az(bin_dir, vm_exists=vm_exists)
    (tmp_path / "id.pub").write_text("ssh-ed25519 AAAAC3Nza test\n")
    inventory = tmp_path / "inventory.yml"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path),
           "AZ_LOCATION": "northeurope", "AZ_SIZE": "Standard_B2ms", "AZ_IMAGE": "Debian:debian-12:12-gen2:latest",
           "AZ_RESOURCE_GROUP": "rg-test", "AZ_VM_NAME": "vm-test", "AZ_SSH_KEY": str(tmp_path / "id.pub"),
           "INVENTORY": str(inventory)}
    result = subprocess.run(["bash", str(REPO / "provision/azure/create_vm.sh")], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = log.read_text().splitlines()
    assert "group create --name rg-test --location northeurope --output none" in calls
    creates = [c for c in calls if c.startswith("vm create")]
    if vm_exists:
        assert creates == []
    else:
        (create,) = creates
        for expected in ("--location northeurope", "--size Standard_B2ms", "--image Debian:debian-12:12-gen2:latest",
                         "--name vm-test", f"--ssh-key-values {tmp_path / 'id.pub'}"):
            assert expected in create
    opened = [re.search(r"--destination-port-ranges (\d+)", c).group(1) for c in calls if "nsg rule create" in c]
    assert opened == ["80", "443"]
    hosts = yaml.safe_load(inventory.read_text())["all"]["children"]["incidencias"]["hosts"]
    assert hosts == {"vm-test": {"ansible_host": "198.51.100.7", "ansible_user": "azureuser"}}


def test_azure_script_says_what_is_missing(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(["bash", str(REPO / "provision/azure/create_vm.sh")], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert "no SSH public key" in result.stderr


@pytest.fixture
def fingerprint_repo(tmp_path):
    """A copy of what the fingerprint covers, in a repository of its own."""
    for relative in ("provision", "deploy/nginx", "tests/deploy/provision_chroot_test.sh"):
        source, target = REPO / relative, tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(".build"))
        else:
            shutil.copy2(source, target)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=30)
    return tmp_path


def fingerprint_of(root, *args):
    return subprocess.run(["bash", str(root / "tests/deploy/provision_chroot_test.sh"), *args], capture_output=True,
                          text=True, timeout=60)


def test_fingerprint_follows_the_provisioning_files(fingerprint_repo):
    first = fingerprint_of(fingerprint_repo, "--fingerprint").stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert fingerprint_of(fingerprint_repo, "--fingerprint").stdout.strip() == first

    verified = fingerprint_repo / "tests/deploy/provision.verified"
    assert fingerprint_of(fingerprint_repo, "--is-verified").returncode == 1  # never verified
    verified.write_text(first + "\n")
    assert fingerprint_of(fingerprint_repo, "--is-verified").returncode == 0

    handlers = fingerprint_repo / ROLE / "handlers/main.yml"
    handlers.write_text(handlers.read_text() + "\n# changed\n")
    assert fingerprint_of(fingerprint_repo, "--fingerprint").stdout.strip() != first
    assert fingerprint_of(fingerprint_repo, "--is-verified").returncode == 1

    # Files git ignores (the controller's build directory) do not count.
    handlers.write_text(handlers.read_text().replace("\n# changed\n", ""))
    (fingerprint_repo / ".gitignore").write_text("provision/.build/\n")
    (fingerprint_repo / "provision/.build").mkdir()
    (fingerprint_repo / "provision/.build/incidencias.tar.gz").write_bytes(b"x")
    assert fingerprint_of(fingerprint_repo, "--is-verified").returncode == 0


def test_chroot_test_script_is_clean_shell():
    result = run([tool("shellcheck"), "tests/deploy/provision_chroot_test.sh"])
    assert result.returncode == 0, result.stdout
