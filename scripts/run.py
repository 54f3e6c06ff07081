"""Run the whole system locally: ``make run``.

Checks RabbitMQ first (one clear line if it is missing), then starts every
process of Procfile.dev under honcho: the portal and the four services under
gunicorn, and the services' workers (outbox relays and consumers). Prints
the portal's address first: it is the way in. Ctrl-C stops them all.

Mail: unless SMTP_URL names a server, a local catcher (common/mail/catcher.py)
takes every mail the services send on 127.0.0.1:1025 and keeps it as a
``.eml`` file under var/mail/; nothing leaves the machine.

Everything listens on 127.0.0.1 unless HOST says otherwise (HOST=0.0.0.0
for every interface): the services and the first admin it prints are not
offered to the network the laptop happens to be on.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The portal's port: Procfile.dev reads PORTAL_PORT.
PORTAL = ("PORTAL_PORT", 8000)
# Each service -> the variable of its port in Procfile.dev, its default port,
# and the portal's setting that points at it.
SERVICES = {
    "clientes": ("CLIENTES_PORT", 8001, "CLIENTES_URL"),
    "incidencias_apertura": ("APERTURA_PORT", 8002, "APERTURA_URL"),
    "incidencias_resolucion": ("RESOLUCION_PORT", 8003, "RESOLUCION_URL"),
    "empleados": ("EMPLEADOS_PORT", 8004, "EMPLEADOS_URL"),
}
# The local mail catcher: where it listens and where its files go.
MAIL_CATCHER = ("127.0.0.1", 1025, ROOT / "var" / "mail")


# HOST values that mean "every interface": the services are then reached
# on this machine at 127.0.0.1.
EVERY_INTERFACE = {"0.0.0.0", "[::]"}


def reachable_host(host: str) -> str:
    """Where this machine reaches a server listening on ``host``."""
    return "127.0.0.1" if host in EVERY_INTERFACE else host


def local_admin_password() -> str:
    """A random password for the local first admin, made once and kept in var/."""
    import secrets

    path = ROOT / "var" / "admin-password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"Adm1n-{secrets.token_urlsafe(12)}\n")
        path.chmod(0o600)
    return path.read_text().strip()


def start_mail_catcher(env) -> object | None:
    """The local catcher, with the services' SMTP_URL pointed at it, unless
    SMTP_URL is set; what to stop at the end (None: nothing started here)."""
    if env.get("SMTP_URL"):
        print(f"Mails: sent through SMTP_URL ({env['SMTP_URL'].rpartition('@')[2]})")
        return None
    from common.mail.catcher import Catcher

    host, port, directory = MAIL_CATCHER
    catcher = Catcher(host, port, directory)
    env["SMTP_URL"] = catcher.url
    try:
        catcher.start()
    except OSError as exc:
        print(f"Mails: {host}:{port} is taken ({exc.strerror or exc}); they go to whatever listens there")
        return None
    print(f"Mails: kept as .eml files in {directory}/ (a local catcher on {catcher.url}; nothing is sent out)")
    return catcher


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
    if env.get("BIND"):
        print("error: BIND is one address for one process; make run starts five on their own ports: "
              "set HOST (and PORTAL_PORT, CLIENTES_PORT, ...) instead", file=sys.stderr)
        return 1
    host = env.get("HOST") or "127.0.0.1"
    env["HOST"] = host
    shown = reachable_host(host)
    env.setdefault("WEB_CONCURRENCY", "2")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("ADMIN_EMAIL", "admin@incidencias.local")
    if not env.get("ADMIN_PASSWORD"):
        env["ADMIN_PASSWORD"] = local_admin_password()
        print(f"First admin: {env['ADMIN_EMAIL']} / {env['ADMIN_PASSWORD']} "
              f"(generated once into var/admin-password; set ADMIN_PASSWORD to choose it)")
    # The portal calls the services on the ports they are started on here.
    for variable, default, url_variable in SERVICES.values():
        env.setdefault(url_variable, f"http://{shown}:{env.get(variable) or default}")
    # The links in the mails point at the portal started here.
    env.setdefault("PORTAL_URL", f"http://{shown}:{env.get(PORTAL[0]) or PORTAL[1]}")
    storage = "MongoDB (MONGO_URL)" if env.get("MONGO_URL") else f"SQLite files in {ROOT / 'var/data'}"
    print(f"Incidencias: RabbitMQ at {amqp_url.split('@')[-1]}, storage: {storage}")
    portal_port = env.get(PORTAL[0]) or PORTAL[1]
    print(f"  {'portal':<24} http://{shown}:{portal_port}/   <- open this: customers at /, the team at /equipo/")
    for name, (variable, default, _url_variable) in SERVICES.items():
        port = env.get(variable) or default
        print(f"  {name:<24} http://{shown}:{port}   (docs: http://{shown}:{port}/docs)")
    if host in EVERY_INTERFACE:
        print(f"Listening on every interface (HOST={host}): anyone on this network reaches the services.")
    catcher = start_mail_catcher(env)
    print("Ctrl-C stops everything.", flush=True)
    from honcho.command import main as honcho_main

    sys.argv = ["honcho", "start", "-f", str(ROOT / "Procfile.dev"), "-d", str(ROOT)]
    try:
        return honcho_main()
    finally:
        if catcher is not None:
            catcher.stop()


if __name__ == "__main__":
    sys.exit(main())
