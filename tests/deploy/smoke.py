#!/usr/bin/env python3
"""Smoke check of a running Incidencias system through its gateway.

    python3 tests/deploy/smoke.py http://localhost:8080
    python3 tests/deploy/smoke.py https://incidencias.example.com \\
        --admin-email admin@example.com --admin-password '...'

Checks that the four services answer /salud through the gateway, that the
gateway keeps /metrics private and answers unknown paths with 404, that the
portal at / serves its login pages (the customers' at /, the team's at
/equipo/entrar) with their stylesheet and a strict Content-Security-Policy,
and then walks one incident across the services: a new customer registers and logs
in, opens an incident in incidencias_apertura, and the incident must reach
incidencias_resolucion over RabbitMQ (read back as the first admin, whose
credentials are optional: without them the walk stops after opening).

With --save FILE the customer and the incident are written to FILE; a later
run with --check-saved FILE (after docker compose down/up, a reboot, a
redeploy) logs that customer in again and reads the incident back: the
data survived.

Uses the standard library only, so it runs on any machine with Python 3.8+.
Exits 0 when everything passed, 1 otherwise, printing one line per check.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.request
import uuid

SERVICES = {
    "clientes": "/api/clientes",
    "empleados": "/api/empleados",
    "incidencias_apertura": "/api/apertura",
    "incidencias_resolucion": "/api/resolucion",
}


class Failed(Exception):
    pass


def call(base, method, path, body=None, token=None, timeout=10.0):
    """(status, headers, parsed JSON or text) of one request; never raises on HTTP errors."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = raw.decode(errors="replace")
    return status, headers, payload


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are answers to look at, not to follow."""

    def redirect_request(self, *args, **kwargs):
        return None


_pages = urllib.request.build_opener(_KeepRedirects)


def page(base, path, forwarded_proto=None, timeout=10.0):
    """(status, headers, text) of a GET of one of the portal's pages, redirects not followed."""
    request = urllib.request.Request(base + path, method="GET")
    if forwarded_proto:
        request.add_header("X-Forwarded-Proto", forwarded_proto)
    try:
        with _pages.open(request, timeout=timeout) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    return status, headers, raw.decode(errors="replace")


def wait_for(description, probe, deadline_s):
    """Call probe() until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    last = None
    while True:
        try:
            result = probe()
            if result:
                return result
        except (OSError, urllib.error.URLError) as error:
            last = error
        if time.monotonic() >= deadline:
            raise Failed(f"{description}: not within {deadline_s:.0f} s" + (f" ({last})" if last else ""))
        time.sleep(0.5)


def run(base, admin_email, admin_password, wait_s, save=None, check_saved=None):
    results = []

    def check(description, condition, detail=""):
        results.append((description, bool(condition), detail))
        print(f"  {'ok  ' if condition else 'FAIL'}  {description}" + (f": {detail}" if detail and not condition else ""))
        if not condition:
            raise Failed(description)

    status, _, body = call(base, "GET", "/salud")
    check("the gateway answers /salud", status == 200, f"{status} {body}")

    for service, prefix in SERVICES.items():
        def ready(prefix=prefix):
            status, _, body = call(base, "GET", f"{prefix}/salud")
            return (status, body) if status == 200 else None

        try:
            status, body = wait_for(f"{service} ready", ready, wait_s)
        except Failed as error:
            check(f"{service} is ready behind {prefix}/", False, str(error))
        check(f"{service} is ready behind {prefix}/", body.get("servicio") == service, f"{body}")
        status, _, spec = call(base, "GET", f"{prefix}/openapi.json")
        check(f"{service} serves its OpenAPI document", status == 200 and isinstance(spec, dict) and "openapi" in spec,
              f"{status}")
        status, _, _ = call(base, "GET", f"{prefix}/metrics")
        check(f"{service}'s /metrics is not published by the gateway", status == 404, f"{status}")

    status, _, _ = call(base, "GET", "/api/no-such-service/salud")
    check("an unknown path is 404", status == 404, f"{status}")

    check_portal(base, check, wait_s)

    if check_saved:
        with open(check_saved) as handle:
            saved = json.load(handle)
        status, _, body = call(base, "POST", "/api/clientes/clientes/login",
                               {"email": saved["email"], "password": saved["password"]})
        check("the saved customer still logs in", status == 200 and body.get("access_token"), f"{status}")
        status, _, body = call(base, "GET", f"/api/apertura/incidencias/{saved['incidencia']}",
                               token=body["access_token"])
        check("the saved incident is still there", status == 200 and body.get("id") == saved["incidencia"],
              f"{status}")

    # One incident across the services.
    email = f"smoke-{uuid.uuid4().hex[:12]}@example.com"
    password = f"Smoke-{uuid.uuid4().hex}"
    status, headers, body = call(base, "POST", "/api/clientes/clientes", {
        "nombre": "Prueba", "apellidos": "De Humo", "email": email, "password": password,
    })
    check("a customer registers", status == 201, f"{status} {body}")
    check("the new account's Location keeps the gateway prefix",
          (headers.get("Location") or "").startswith("/api/clientes/"), headers.get("Location") or "none")
    status, _, body = call(base, "POST", "/api/clientes/clientes/login", {"email": email, "password": password})
    check("the customer logs in", status == 200 and body.get("access_token"), f"{status} {body}")
    customer_token = body["access_token"]

    def open_incident():
        status, _, body = call(base, "POST", "/api/apertura/incidencias", {
            "titulo": "Prueba de humo", "descripcion": "Incidencia abierta por tests/deploy/smoke.py",
            "producto": {"referencia": "SMOKE-1", "nombre": "Producto de prueba"},
        }, token=customer_token)
        # The customer's replica in incidencias_apertura comes over RabbitMQ:
        # a just-registered customer may be unknown there for a moment.
        return (status, body) if status == 201 else None

    try:
        status, body = wait_for("opening an incident", open_incident, wait_s)
    except Failed as error:
        check("the customer opens an incident", False, str(error))
    check("the customer opens an incident", body.get("estado") == "abierta", f"{body}")
    incident_id = body["id"]
    status, _, body = call(base, "GET", f"/api/apertura/incidencias/{incident_id}", token=customer_token)
    check("the customer reads it back", status == 200 and body.get("id") == incident_id, f"{status}")
    if save:
        with open(save, "w") as handle:
            json.dump({"email": email, "password": password, "incidencia": incident_id}, handle)
    if save:
        with open(save, "w") as handle:
            json.dump({"email": email, "password": password, "incidencia": incident_id}, handle)

    if not (admin_email and admin_password):
        print("  skip  following the incident into incidencias_resolucion (no --admin-email/--admin-password)")
        return results
    status, _, body = call(base, "POST", "/api/empleados/empleados/login",
                           {"email": admin_email, "password": admin_password})
    check("the first admin logs in", status == 200 and body.get("access_token"), f"{status}")
    admin_token = body["access_token"]

    def replicated():
        status, _, body = call(base, "GET", f"/api/resolucion/incidencias/{incident_id}", token=admin_token)
        return body if status == 200 else None

    try:
        body = wait_for("the incident reaching incidencias_resolucion", replicated, wait_s)
    except Failed as error:
        check("the incident reaches incidencias_resolucion over RabbitMQ", False, str(error))
    check("the incident reaches incidencias_resolucion over RabbitMQ", body.get("id") == incident_id, f"{body}")
    return results


def check_portal(base, check, wait_s):
    """The portal's login pages through the gateway. A portal that requires
    HTTPS (production, Secure cookies) answers plain HTTP with a redirect to
    https://; the pages are then asked for as a TLS terminator in front of
    the gateway would forward them (X-Forwarded-Proto: https)."""
    def answered():
        status, headers, body = page(base, "/")
        return (status, headers, body) if status not in (502, 503, 504) else None

    try:
        status, headers, body = wait_for("the portal answering at /", answered, wait_s)
    except Failed as error:
        check("the portal answers at /", False, str(error))
    proto = None
    if status in (301, 302, 307, 308) and base.startswith("http://"):
        location = headers.get("Location") or ""
        check("the portal sends plain HTTP to HTTPS", location.startswith("https://"), f"{status} {location}")
        proto = "https"
    for path, what in (("/", "the customers' login page"), ("/equipo/entrar", "the team's login page")):
        status, headers, body = page(base, path, proto)
        check(f"the portal serves {what} at {path}",
              status == 200 and "text/html" in (headers.get("Content-Type") or "")
              and 'lang="es"' in body and 'name="email"' in body and 'name="password"' in body,
              f"{status} {headers.get('Content-Type')}")
        policy = headers.get("Content-Security-Policy") or ""
        check(f"{path} carries a strict Content-Security-Policy",
              "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, policy or "none")
    stylesheet = re.search(r'<link[^>]+href="(/[^"]+\.css)[^"]*"', body)
    check("the team's login page links its stylesheet", stylesheet, "no <link href=...css>")
    status, headers, _ = page(base, stylesheet.group(1), proto)
    check(f"the portal serves its stylesheet {stylesheet.group(1)}",
          status == 200 and "text/css" in (headers.get("Content-Type") or ""), f"{status}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", help="the gateway, e.g. http://localhost:8080")
    parser.add_argument("--admin-email", default="")
    parser.add_argument("--admin-password", default="")
    parser.add_argument("--save", metavar="FILE", help="write the new customer and incident here")
    parser.add_argument("--check-saved", metavar="FILE", help="check that a saved customer and incident still exist")
    parser.add_argument("--wait", type=float, default=60.0,
                        help="seconds to wait for readiness and for events to propagate (default 60)")
    args = parser.parse_args(argv)
    print(f"smoke check of {args.base_url}")
    try:
        results = run(args.base_url.rstrip("/"), args.admin_email, args.admin_password, args.wait,
                      save=args.save, check_saved=args.check_saved)
    except Failed as error:
        print(f"smoke check FAILED: {error}")
        return 1
    print(f"smoke check passed ({len(results)} checks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
