"""Dockerfile and .dockerignore: linted, and the image's /app rebuilt here
from the build context the way Docker would, then imported (no engine is
needed; CI's "compose" job builds the image for real)."""
from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess
import sys

import pytest
import yaml

from deploy_helpers import REPO, SERVICES, run, runtime_packages, tool


def instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def context_files() -> set[str]:
    """Files of the build context: the repository's files less what .dockerignore excludes."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    rules = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rules.append((line.startswith("!"), line.lstrip("!").rstrip("/")))

    def matches(pattern: str, path: str) -> bool:
        # A pattern matches a path or any of its parent directories (Docker's rule).
        parts = path.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if pattern.startswith("**/"):
            tail = pattern[3:]
            return any(fnmatch.fnmatchcase(part, tail) for part in parts) or fnmatch.fnmatchcase(path, tail)
        return any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates)

    kept = set()
    for path in listed:
        if not (REPO / path).is_file():
            continue
        included = True
        for negated, pattern in rules:
            if matches(pattern, path):
                included = negated
        if included:
            kept.add(path)
    return kept


@pytest.fixture(scope="module")
def image_app(tmp_path_factory):
    """/app as the Dockerfile's COPY instructions would fill it."""
    context = context_files()
    app = tmp_path_factory.mktemp("image") / "app"
    app.mkdir()
    workdir = None
    for keyword, rest in final_stage():
        if keyword == "WORKDIR":
            workdir = rest
        if keyword != "COPY" or rest.startswith("--from"):
            continue
        *sources, destination = shlex.split(rest)
        assert workdir == "/app"
        for source in sources:
            source = source.rstrip("/")
            selected = sorted(path for path in context if path == source or path.startswith(source + "/"))
            assert selected, f"COPY {source}: nothing of it is in the build context"
            for path in selected:
                inside = path[len(source):].lstrip("/")  # empty when the source is the file itself
                if inside:
                    relative = destination.rstrip("/") + "/" + inside
                elif destination.endswith("/"):
                    relative = destination + path.rsplit("/", 1)[-1]
                else:
                    relative = destination
                target = app / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes((REPO / path).read_bytes())
    return app


def test_hadolint_is_clean():
    result = run([tool("hadolint"), "Dockerfile"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_runtime_image_is_small_and_runs_unprivileged():
    steps = final_stage()
    base = steps[0][1]
    assert re.fullmatch(r"python:\$\{PYTHON_VERSION\}-slim-\w+ AS runtime", base), base
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users and re.fullmatch(r"[1-9]\d{3,}(:[1-9]\d{3,})?", users[-1]), "final USER must be a numeric non-root id"
    assert not any(keyword == "RUN" and "apt-get install" in rest for keyword, rest in steps)
    # The dependencies come from requirements.txt in a build stage; only the venv is copied over.
    build = instructions()[: len(instructions()) - len(steps)]
    assert ("COPY", "requirements.txt /tmp/requirements.txt") in build
    assert any(keyword == "RUN" and "pip install --requirement /tmp/requirements.txt" in rest for keyword, rest in build)
    assert ("COPY", "--from=build /opt/venv /opt/venv") in steps


def test_every_runtime_package_reaches_the_image(image_app):
    for package in runtime_packages():
        assert (image_app / package).is_dir(), f"{package} is not copied into the image"
    assert (image_app / "requirements.txt").read_text() == (REPO / "requirements.txt").read_text()
    assert not list(image_app.rglob("__pycache__"))
    assert not (image_app / "tests").exists() and not (image_app / "provision").exists()


def test_context_leaves_out_local_state_and_secrets():
    context = context_files()
    for path in context:
        assert not path.startswith((".venv/", "var/", "tests/", ".git/", "provision/")), path
        assert not path.endswith((".env", ".pem")), path


def test_the_image_code_imports_every_process(image_app):
    program = (
        "import importlib, sys\n"
        f"assert sys.path[0] in ('', {str(image_app)!r})\n"
        "import common.gunicorn_config\n"
        f"for service in {sorted(SERVICES)!r}:\n"
        "    assert callable(importlib.import_module(service + '.app').create_app)\n"
        "    importlib.import_module(service + '.worker')\n"
        "assert callable(importlib.import_module('portal.app').create_app)\n"
        f"assert all(not m.__file__ or m.__file__.startswith({str(image_app)!r}) or 'site-packages' in m.__file__\n"
        "           or m.__file__.startswith(sys.base_prefix)\n"
        "           for m in list(sys.modules.values()) if getattr(m, '__file__', None))\n"
    )
    result = subprocess.run([sys.executable, "-c", program], cwd=image_app, capture_output=True, text=True,
                            timeout=120, env={"PYTHONPATH": str(image_app), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]


def test_default_command_is_the_procfile_web_process():
    """The Procfile's web line, its HOST=0.0.0.0 set by the image's ENV instead."""
    cmd = [rest for keyword, rest in final_stage() if keyword == "CMD"][-1]
    argv = yaml.safe_load(cmd)  # the exec form is a JSON array
    assert argv[:2] == ["sh", "-c"]
    procfile = dict(line.split(": ", 1) for line in (REPO / "Procfile").read_text().splitlines() if line)
    assert procfile["web"].startswith("HOST=0.0.0.0 ")
    assert argv[2] == "exec " + procfile["web"].removeprefix("HOST=0.0.0.0 ")


def test_containers_listen_on_every_interface():
    """The shared gunicorn configuration listens on loopback unless HOST says
    otherwise; in a container the gateway and the other services come over
    the Compose network."""
    env = {}
    for keyword, rest in final_stage():
        if keyword == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(rest))
    assert env.get("HOST") == "0.0.0.0", env
