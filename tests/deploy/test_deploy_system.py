"""The VM's shape without the VM: the portal and the four services under
gunicorn, and the services' workers (as `make run` starts them), nginx in
front with the repository's gateway configuration, and tests/deploy/smoke.py
loading the portal's pages at / and walking an incident through it from
customer to staff over RabbitMQ."""
from __future__ import annotations

import pytest

import smoke
from deploy_helpers import start_gateway, stop
from harness import ADMIN_EMAIL, ADMIN_PASSWORD, System

# System's process names -> the services' packages.
SYSTEM_NAMES = {"clientes": "clientes", "empleados": "empleados", "apertura": "incidencias_apertura",
                "resolucion": "incidencias_resolucion"}


@pytest.mark.slow
def test_smoke_check_passes_through_the_gateway(tmp_path, capsys):
    system = System.prepare(tmp_path / "system")
    (tmp_path / "system").mkdir()
    (tmp_path / "nginx").mkdir()
    nginx = None
    try:
        system.start()
        ports = {SYSTEM_NAMES[name]: int(url.rsplit(":", 1)[1]) for name, url in system.urls.items()}
        ports["portal"] = int(system.portal_url.rsplit(":", 1)[1])
        port, nginx = start_gateway(tmp_path / "nginx", ports)
        saved = tmp_path / "smoke.json"
        base = f"http://127.0.0.1:{port}"

        assert smoke.main([base, "--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD,
                           "--save", str(saved), "--wait", "60"]) == 0, capsys.readouterr().out
        out = capsys.readouterr().out
        assert "FAIL" not in out and "the incident reaches incidencias_resolucion over RabbitMQ" in out
        assert "the portal serves the customers' login page at /" in out

        assert smoke.main([base, "--check-saved", str(saved)]) == 0, capsys.readouterr().out
        # And the check does fail when what it looks for is not there.
        saved.write_text(saved.read_text().replace('"incidencia": "', '"incidencia": "no-'))
        assert smoke.main([base, "--check-saved", str(saved), "--wait", "5"]) == 1
    finally:
        if nginx is not None:
            stop(nginx)
        system.stop()
        system.delete_broker_objects()  # its quorum queues would pile up on the shared broker
