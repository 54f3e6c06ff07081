"""The operators' shell scripts: shellcheck-clean, and deploy/gen-env.sh
writes a usable .env without ever overwriting one."""
from __future__ import annotations

import re
import stat
import subprocess

import pytest
from dotenv import dotenv_values

from deploy_helpers import REPO, run, tool

SCRIPTS = ["deploy/gen-env.sh", "provision/azure/create_vm.sh", "tests/deploy/provision_chroot_test.sh"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_shellcheck(script):
    result = run([tool("shellcheck"), script])
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_are_executable(script):
    assert (REPO / script).stat().st_mode & stat.S_IXUSR


def gen_env(out, email="ops@example.com"):
    return subprocess.run(["bash", str(REPO / "deploy/gen-env.sh"), email, str(out)], capture_output=True,
                          text=True, timeout=60)


def test_gen_env_writes_private_fresh_secrets(tmp_path):
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    assert gen_env(first).returncode == 0 and gen_env(second).returncode == 0
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    a, b = dotenv_values(first), dotenv_values(second)
    for name in ("RABBITMQ_PASSWORD", "CLIENTES_JWT_PRIVATE_KEY", "EMPLEADOS_JWT_PRIVATE_KEY", "ADMIN_PASSWORD",
                 "PORTAL_SECRET_KEY"):
        assert a[name] and a[name] != b[name], name
    assert a["ADMIN_EMAIL"] == "ops@example.com"
    assert a["RABBITMQ_PASSWORD"].isalnum()  # it goes inside an amqp:// URL
    assert re.fullmatch(r"[0-9a-f]{64}", a["PORTAL_SECRET_KEY"])  # the portal wants 32 characters or more
    # Everything else is .env.example as it is.
    example = dotenv_values(REPO / ".env.example")
    assert set(a) == set(example)
    assert {k: v for k, v in a.items() if example[k]} == {k: v for k, v in example.items() if v}


def test_gen_env_never_overwrites(tmp_path):
    out = tmp_path / ".env"
    out.write_text("KEEP=1\n")
    result = gen_env(out)
    assert result.returncode == 1 and "exists" in result.stderr
    assert out.read_text() == "KEEP=1\n"
    assert list(tmp_path.iterdir()) == [out]


def test_gen_env_needs_the_admin_email(tmp_path):
    result = subprocess.run(["bash", str(REPO / "deploy/gen-env.sh")], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "usage" in result.stderr
