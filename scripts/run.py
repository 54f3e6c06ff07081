"""Run the whole system locally: ``make run``.

Checks RabbitMQ first (one clear line if it is missing), then starts every
process of Procfile.dev under honcho: the four services under gunicorn and
their workers (outbox relays and consumers). Ctrl-C stops them all.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {
    "clientes": 8001, "incidencias_apertura": 8002, "incidencias_resolucion": 8003, "empleados": 8004,
}


def local_admin_password() -> str:
    """A random password for the local first admin, made once and kept in var/."""
    import secrets

    path = ROOT / "var" / "admin-password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"Adm1n-{secrets.token_urlsafe(12)}\n")
        path.chmod(0o600)
    return path.read_text().strip()


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from common.messaging import BrokerUnavailable, check_broker

    amqp_url = os.environ.get("AMQP_URL") or os.environ.get("CLOUDAMQP_URL") or "amqp://guest:guest@localhost:5672/"
    try:
        check_broker(amqp_url)
    except BrokerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    os.chdir(ROOT)
    env = os.environ
    env.setdefault("WEB_CONCURRENCY", "2")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("ADMIN_EMAIL", "admin@incidencias.local")
    if not env.get("ADMIN_PASSWORD"):
        env["ADMIN_PASSWORD"] = local_admin_password()
        print(f"First admin: {env['ADMIN_EMAIL']} / {env['ADMIN_PASSWORD']} "
              f"(generated once into var/admin-password; set ADMIN_PASSWORD to choose it)")
    storage = "MongoDB (MONGO_URL)" if env.get("MONGO_URL") else f"SQLite files in {ROOT / 'var/data'}"
    print(f"Incidencias: RabbitMQ at {amqp_url.split('@')[-1]}, storage: {storage}")
    for name, port in SERVICES.items():
        print(f"  {name:<24} http://127.0.0.1:{port}   (docs: http://127.0.0.1:{port}/docs)")
    print("Ctrl-C stops everything.", flush=True)
    from honcho.command import main as honcho_main

    sys.argv = ["honcho", "start", "-f", str(ROOT / "Procfile.dev"), "-d", str(ROOT)]
    return honcho_main()


if __name__ == "__main__":
    sys.exit(main())
