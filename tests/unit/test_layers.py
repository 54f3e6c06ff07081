"""The layers hold: every service's domain modules import only the standard
library (and the domain packages), and no use-case layer (``services.py``)
knows of the web framework, the broker client or a database driver. Pure:
reads the source files."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("clientes", "empleados", "incidencias_apertura", "incidencias_resolucion")
DOMAIN_PACKAGES = {"incidencias_dominio", "cuentas"}
PURE_LIBRARIES = {"holidays"}
"""Libraries that are data and arithmetic alone (no I/O, no framework): the
public holidays business time counts with (``incidencias_dominio.calendario``)."""
DOMAIN_FILES = sorted((ROOT / "incidencias_dominio").glob("*.py")) + [
    ROOT / "cuentas" / "roles.py",
    ROOT / "cuentas" / "cuenta.py",
    ROOT / "clientes" / "domain.py",
    ROOT / "empleados" / "domain.py",
    ROOT / "incidencias_apertura" / "notificaciones.py",
    ROOT / "incidencias_resolucion" / "asignacion.py",
]
INFRASTRUCTURE = {"flask", "flask_smorest", "werkzeug", "marshmallow", "pika", "pymongo", "sqlite3", "gunicorn"}


def imported_roots(path: Path) -> list[str]:
    roots = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            roots.append(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_domain_modules_import_only_the_standard_library(path):
    allowed = set(sys.stdlib_module_names) - {"sqlite3"} | DOMAIN_PACKAGES | PURE_LIBRARIES | {"__future__"}
    for root in imported_roots(path):
        assert root in allowed, f"{path.name} imports {root}"


@pytest.mark.parametrize("service", SERVICES)
def test_use_cases_know_no_web_framework_broker_or_driver(service):
    path = ROOT / service / "services.py"
    assert path.exists(), f"{service} has no use-case layer"
    assert not INFRASTRUCTURE & set(imported_roots(path))


@pytest.mark.parametrize("path", [ROOT / s / "api.py" for s in SERVICES], ids=lambda p: p.parent.name)
def test_no_view_catches_an_exception_itself(path):
    """Refusals are answered once, by the HTTP plumbing (``common.errors``)."""
    handlers = [n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.ExceptHandler)]
    assert handlers == [], f"{path.parent.name}/api.py catches exceptions at lines {[h.lineno for h in handlers]}"


@pytest.mark.parametrize("module", ["common.idempotency", "common.http.idempotency", "portal.pages"])
def test_the_idempotency_records_load_no_broker_client_or_driver(module):
    """The portal and the HTTP plumbing use the idempotency records; those
    need the clock (``common.clock``), not ``common.messaging`` and pika.
    A fresh interpreter, so that what other tests loaded does not count."""
    code = (f"import sys, {module}; "
            "print(sorted(m for m in ('pika', 'pymongo', 'common.messaging') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
