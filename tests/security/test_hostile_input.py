"""Hostile input on every endpoint of every running service: MongoDB
operators and search wildcards where strings are expected, hostile ids in
paths, bodies over the size limit (with and without Content-Length), deep
nesting and numbers no parser should swallow, huge page sizes, Unicode edge
cases and hostile headers.

The contract (docs/security.md): a refusal is a 4xx problem+json that names
what was wrong; never a 500, never a partial write. Every operation comes
from the live OpenAPI documents; bodies start from the valid samples in
``samples.py`` and are spoiled one way at a time.
"""
from __future__ import annotations

import csv
import io
import json
import re
import uuid
from urllib.parse import quote

import jsonschema
import pytest

from common.http import search
from harness import Account, wait_until

from .permissions import PERMISSIONS, operations, path_parameters
from .samples import SAMPLE_KEYS, body_samples, make_targets, replace, request_schema, string_fields
from .world import problem

pytestmark = [pytest.mark.security, pytest.mark.slow]

OPERATORS = [
    {"$ne": None}, {"$gt": ""}, {"$regex": ".*"}, {"$where": "sleep(1000) || true"}, {"$in": ["a", "b"]},
    ["$ne", None],
]
MAX_BODY = 64 * 1024  # Settings.max_body_bytes, the services' default


@pytest.fixture(scope="module")
def samples(world):
    return body_samples(world, make_targets(world))


def _token(actor: Account | None) -> str | None:
    return actor.token if actor else None


# -- operators and wildcards -------------------------------------------------------

@pytest.mark.parametrize("key", SAMPLE_KEYS, ids=lambda k: " ".join(k))
def test_operators_where_a_string_is_expected_are_422_naming_the_field(world, openapi, samples, attacks, key):
    rec = attacks("operator_injection")
    sample = samples[key]
    service, method, _path = key
    fields = string_fields(request_schema(openapi, key), sample.body)
    before = sample.snapshot()
    for field in fields:
        for operator in OPERATORS:
            response = world.client.call(method, service, sample.path, _token(sample.actor),
                                         json=replace(sample.body, field, operator))
            if rec.expect(f"{method} {service}{key[2]} {field}={json.dumps(operator)}", response, 422):
                named = {e["campo"] for e in problem(response)["errores"]}
                assert field in named or field.rsplit(".", 1)[0] in named, (key, field, named)
    assert sample.snapshot() == before
    rec.check()


def _query_operations(openapi):
    for service, document in openapi.items():
        for method, path, operation in operations(document):
            params = [p for p in operation.get("parameters", []) if p["in"] == "query"]
            if method == "GET" and params:
                yield service, path, params


def _list_token(world, service: str) -> str:
    return {"clientes": world.admin.token, "empleados": world.admin.token, "apertura": world.c1.token,
            "resolucion": world.admin.token}[service]


def test_operators_in_query_strings_are_refused_or_taken_literally(world, openapi, attacks):
    """A query value is a string: ``{"$ne": null}`` in a filter must select
    nothing (or be refused), never everything; bracket syntax
    (``estado[$ne]=x``) is not a filter at all."""
    rec = attacks("operator_injection")
    for service, path, params in _query_operations(openapi):
        filters = [p for p in params
                   if p["name"] not in ("pagina", "por_pagina") and p["schema"].get("type") == "string"]
        if not filters:
            continue  # only pages and flags (the page sizes are attacked below)
        token = _list_token(world, service)
        baseline = world.client.call("GET", service, path, token)
        assert baseline.status_code == 200, baseline.text
        if not baseline.headers["content-type"].startswith("application/json") or "total" not in baseline.json():
            continue  # not a list (figures, a CSV report: their periods are attacked below)
        assert baseline.json()["total"] > 0, (service, path)
        for param in filters:
            name = param["name"]
            for value in ('{"$ne": null}', '{"$gt": ""}', "[$ne]", "$where"):
                response = world.client.call("GET", service, path, token, params={name: value})
                if jsonschema.Draft202012Validator(param["schema"]).is_valid(value):
                    # A value the parameter takes, read as the literal text it is: it selects nothing.
                    ok = response.status_code == 200 and response.json()["total"] == 0
                else:  # not one of its values (an enum, a search's syntax): refused, naming the parameter
                    refused = 400 if param["schema"].get("pattern") == search.PATTERN else 422
                    ok = response.status_code == refused and {e["campo"] for e in problem(response)["errores"]} == {name}
                rec.record(f"GET {service}{path}?{name}={value}", ok, f"{response.status_code} {response.text[:200]}")
            # Read as an operator, these would select nothing; ignored, as
            # they must be, the list is the unfiltered one.
            for suffix in ("[$eq]", "[$in]", "[$regex]"):
                response = world.client.call("GET", service, path, token, params={f"{name}{suffix}": "zzz"})
                ok = response.status_code == 200 and response.json()["total"] > 0
                rec.record(f"GET {service}{path}?{name}{suffix}=zzz", ok, f"{response.status_code}")
    rec.check()


@pytest.mark.parametrize("service", ["clientes", "empleados"])
def test_search_wildcards_match_only_themselves(world, client, attacks, service):
    """``q`` searches with LIKE on SQLite and $regex on MongoDB: ``%``, ``_``
    and regex syntax must be escaped, so they match only literally."""
    rec = attacks("operator_injection")
    mark = uuid.uuid4().hex[:6]
    name = f"Zq{mark}x"
    if service == "clientes":
        response = client.call("POST", "clientes", "/clientes", json={
            "nombre": name, "apellidos": "Comodin", "email": f"comodin.{mark}@example.com",
            "password": "Cliente-pass-2026"})
    else:
        response = client.call("POST", "empleados", "/empleados", world.admin.token, json={
            "nombre": name, "apellidos": "Comodin", "email": f"comodin.{mark}@example.com",
            "password": "Empleado-pass-2026", "rol": "agente"})
    assert response.status_code == 201, response.text
    path = f"/{service}"
    found = client.call("GET", service, path, world.admin.token, params={"q": name}).json()
    assert found["total"] == 1
    # Each of these matches the account only if the wildcard is interpreted.
    for query in (f"Zq%{mark[1:]}x", f"Zq_{mark[1:]}x", f"Zq.{mark[1:]}x", "Zq.*x", f"^Zq{mark}",
                  f"Zq[{mark[0]}]{mark[1:]}x", f"Zq{mark}x$", f"zq{mark}x|nada"):
        response = client.call("GET", service, path, world.admin.token, params={"q": query, "por_pagina": 100})
        hits = {e["nombre"] for e in response.json()["elementos"]} if response.status_code == 200 else set()
        rec.record(f"GET /{service}?q={query}", response.status_code == 200 and name not in hits,
                   f"{response.status_code} {sorted(hits)[:3]}")
    # And these are just hostile: searched for as they are, never a 500.
    for query in ("%", "_%_", ".*", "(a+)+$", "\\", "'; DROP TABLE documentos; --"):
        response = client.call("GET", service, path, world.admin.token, params={"q": query})
        rec.record(f"GET /{service}?q={query}", response.status_code == 200, str(response.status_code))
    # A control character is no text to search for: refused, naming q.
    response = client.call("GET", service, path, world.admin.token, params={"q": "\u0000"})
    rec.expect(f"GET /{service}?q=NUL", response, 422)
    rec.check()


@pytest.mark.parametrize("service, token", [("apertura", "c1"), ("resolucion", "a1")])
def test_full_text_syntax_never_reaches_an_engine(world, client, attacks, service, token):
    """``q`` of the incident lists is words for FTS5 and MongoDB's text
    index: their query syntax is a 400 naming ``q``, never a 500 nor a
    search meaning something else; what is words is searched as words."""
    rec = attacks("operator_injection")
    who = getattr(world, token)
    for query in ('lampara*', '"lampara"', "NEAR(a b)", "titulo:x", "^x", "a + b", "{x}", "x\\", "\u0000",
                  "x" * (search.MAX_CHARS + 1), " ".join("abcdefghijklmn"), "¿?", "$where", '{"$ne": null}'):
        response = client.call("GET", service, "/incidencias", who.token, params={"q": query})
        named = response.status_code == 400 and [e["campo"] for e in problem(response)["errores"]] == ["q"]
        rec.record(f"GET {service}/incidencias?q={query[:40]!r}", named, f"{response.status_code} {response.text[:200]}")
    for query in ("a OR b", "NOT x", "-x", "x AND y", "'; DROP TABLE documentos; --", "árbol,nubarrón"):
        response = client.call("GET", service, "/incidencias", who.token, params={"q": query})
        rec.record(f"GET {service}/incidencias?q={query!r} (words)", response.status_code == 200
                   and response.json()["total"] == 0, f"{response.status_code} {response.text[:200]}")
    rec.check()


# -- ids in paths ------------------------------------------------------------------

HOSTILE_IDS = [
    '{"$ne": null}', "$ne", "*", "%", ".*", "..", "../clientes", "' OR '1'='1", "1; DROP TABLE documentos",
    "%00", "\u0000", "yo\u0000", "ñandú", "\U0001F4A5", "a" * 1000, "0" * 24, "-1", "null", "[]",
]


def _id_actor(world, key):
    service, _method, path = key
    if service == "apertura" and not path.startswith("/clientes/"):
        return world.c1
    if service == "clientes":
        return world.admin
    return world.admin


@pytest.mark.parametrize("key", sorted(k for k in PERMISSIONS if path_parameters(k[2])), ids=lambda k: " ".join(k))
def test_hostile_ids_are_404(world, samples, attacks, key):
    rec = attacks("hostile_ids")
    service, method, path = key
    actor = _id_actor(world, key)
    body = samples[key].body if key in samples else None
    for hostile in HOSTILE_IDS:
        url = path
        for param in path_parameters(path):
            url = url.replace("{" + param + "}", quote(hostile, safe=""))
        response = world.client.call(method, service, url, actor.token,
                                     **({"json": body} if body is not None else {}))
        # The client resolves "..": /clientes/../incidencias is POST
        # /incidencias, a customer's operation, refused to staff.
        lands_elsewhere = hostile == ".." and key == ("apertura", "POST", "/clientes/{cliente_id}/incidencias")
        rec.expect(f"{method} {service}{path} with id {hostile[:30]!r}", response, 403 if lands_elsewhere else 404)
    rec.check()


# -- size, nesting, numbers ------------------------------------------------------------

def _chunks(data: bytes):
    for start in range(0, len(data), 8192):
        yield data[start:start + 8192]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_bodies_over_the_limit_are_413_everywhere(world, samples, attacks, chunked):
    rec = attacks("oversized_bodies")
    for key in SAMPLE_KEYS:
        sample = samples[key]
        service, method, path = key
        before = sample.snapshot()
        for size in (MAX_BODY + 1, 4 * MAX_BODY, 1024 * 1024):
            data = json.dumps({**sample.body, "relleno": "x" * size}).encode()
            response = world.client.call(method, service, sample.path, _token(sample.actor),
                                         content=_chunks(data) if chunked else data,
                                         headers={"Content-Type": "application/json"})
            rec.expect(f"{method} {service}{path} {size} bytes{' chunked' if chunked else ''}", response, 413)
        assert sample.snapshot() == before
    rec.check()


def _deep(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_deep_nesting_is_400_everywhere(world, samples, attacks, chunked):
    rec = attacks("deep_nesting")
    for key in SAMPLE_KEYS:
        sample = samples[key]
        service, method, path = key
        field = next(iter(sample.body), "x")
        for kind, depth in (("array", 20_000), ("object", 10_000)):
            data = b'{"' + field.encode() + b'": ' + _deep(depth, kind) + b"}"
            response = world.client.call(method, service, sample.path, _token(sample.actor),
                                         content=_chunks(data) if chunked else data,
                                         headers={"Content-Type": "application/json"})
            rec.expect(f"{method} {service}{path} {kind} nested {depth} deep{' chunked' if chunked else ''}",
                       response, 400)
    rec.check()


UNPARSEABLE = {
    "not JSON": b'{"titulo": ',
    "invalid UTF-8": b'{"x": "\xff\xfe"}',
    "UTF-16": '{"x": "y"}'.encode("utf-16"),
    "NaN and Infinity": b'{"x": NaN, "y": Infinity}',
    "a lone surrogate": b'{"x": "\\ud800"}',
    "an unpaired low surrogate": b'{"x": "a\\udfffb"}',
    "a body that is a list": b"[1, 2, 3]",
    "a body that is a string": b'"texto"',
    "a body that is null": b"null",
}
# What each is answered: 400 for what is not JSON in UTF-8 that a service can
# store, 422 for JSON that is not the object the operation takes.
UNPARSEABLE_STATUS = {
    "not JSON": 400, "invalid UTF-8": 400, "UTF-16": 400, "NaN and Infinity": 422, "a lone surrogate": 400,
    "an unpaired low surrogate": 400, "a body that is a list": 422, "a body that is a string": 422,
    "a body that is null": 422,
}


def test_unparseable_bodies_are_4xx_everywhere(world, samples, attacks):
    rec = attacks("deep_nesting")
    for key in SAMPLE_KEYS:
        sample = samples[key]
        service, method, path = key
        for name, data in UNPARSEABLE.items():
            response = world.client.call(method, service, sample.path, _token(sample.actor), content=data,
                                         headers={"Content-Type": "application/json"})
            rec.expect(f"{method} {service}{path} with {name}", response, UNPARSEABLE_STATUS[name])
    rec.check()


def test_a_huge_integer_literal_is_4xx_not_500(world, samples, attacks):
    rec = attacks("deep_nesting")
    for key in SAMPLE_KEYS:
        sample = samples[key]
        service, method, path = key
        field = next(iter(sample.body), "x")
        data = json.dumps({**sample.body, field: 0}).replace(": 0", ": 1" + "0" * 5000, 1).encode()
        response = world.client.call(method, service, sample.path, _token(sample.actor), content=data,
                                     headers={"Content-Type": "application/json"})
        rec.expect(f"{method} {service}{path} with a 5001-digit integer", response, 400)
    rec.check()


# -- page sizes --------------------------------------------------------------------

BAD_PAGES = [
    {"por_pagina": 0}, {"por_pagina": -1}, {"por_pagina": 101}, {"por_pagina": 1_000_000},
    {"por_pagina": 10 ** 40}, {"por_pagina": "1" + "0" * 3000}, {"por_pagina": "1e3"}, {"por_pagina": "NaN"},
    {"por_pagina": "Infinity"}, {"por_pagina": "0x10"}, {"por_pagina": "20.5"}, {"por_pagina": ""},
    {"pagina": 0}, {"pagina": -5}, {"pagina": 10 ** 30}, {"pagina": "uno"},
]


def test_huge_and_invalid_page_sizes_are_422_and_the_bound_holds(world, openapi, attacks):
    rec = attacks("page_sizes")
    lists = [(s, p) for s, p, params in _query_operations(openapi) if any(x["name"] == "por_pagina" for x in params)]
    assert len(lists) >= 5
    for service, path in lists:
        token = _list_token(world, service)
        for params in BAD_PAGES:
            response = world.client.call("GET", service, path, token, params=params)
            if rec.expect(f"GET {service}{path}?{next(iter(params))}={str(next(iter(params.values())))[:20]}",
                          response, 422):
                assert {e["campo"] for e in problem(response)["errores"]} == set(params)
        both = world.client.call("GET", service, path, token, params=[("por_pagina", "5"), ("por_pagina", "100000")])
        ok = both.status_code == 200 and both.json()["por_pagina"] == 5  # the first of the two counts
        rec.record(f"GET {service}{path} with por_pagina twice", ok, f"{both.status_code} {both.text[:200]}")
        largest = world.client.call("GET", service, path, token, params={"por_pagina": 100})
        assert largest.status_code == 200 and len(largest.json()["elementos"]) <= 100
    rec.check()


# -- periods -----------------------------------------------------------------------

# Not an RFC 3339 date-time with its offset, whatever else each one is.
HOSTILE_INSTANTS = [
    '{"$ne": null}', '{"$gt": ""}', "[$ne]", "$where", "", "now", "-1", "1e309", "9" * 400, "\u0000",
    "2026-13-01T00:00:00Z", "2026-02-30T00:00:00+01:00", "2026-01-01T25:00:00Z", "2026-01-01T00:00:00",
    "2026-01-01", "2026-01-01T00:00:00+99:00", "\uff12\uff10\uff12\uff16-01-01T00:00:00Z",
    "2026-01-01T00:00:00Z\n", "2026-01-01T00:00:00Z' OR '1'='1",
]
# Valid instants at the ends of what a date-time can hold: the default start
# 30 days before ``hasta``, or the conversion to UTC, falls outside it.
EDGE_INSTANTS = [
    ("hasta", "0001-01-01T00:00:00Z"), ("hasta", "0001-01-15T00:00:00Z"), ("desde", "0001-01-01T00:00:00+14:00"),
    ("desde", "9999-12-31T23:59:59-14:00"), ("hasta", "9999-12-31T23:59:59-14:00"),
]
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _period_operations(openapi):
    """The GET operations that take a period: their service, path and date-time parameters."""
    for service, path, params in _query_operations(openapi):
        names = [p["name"] for p in params if p["schema"].get("format") == "date-time"]
        if names:
            yield service, path, names


def _named(response) -> set[str]:
    return {e["campo"] for e in problem(response)["errores"]}


def test_hostile_periods_are_422_naming_the_parameter(world, openapi, attacks):
    rec = attacks("periods")
    found = list(_period_operations(openapi))
    assert {(service, path) for service, path, _names in found} >= {
        ("resolucion", "/estadisticas"), ("resolucion", "/estadisticas/informe.csv")}
    for service, path, names in found:
        for name in names:
            for value in HOSTILE_INSTANTS:
                response = world.client.call("GET", service, path, world.a1.token, params={name: value})
                if rec.expect(f"GET {service}{path}?{name}={value[:30]!r}", response, 422):
                    assert _named(response) == {name}, (path, name, value)
        if {"desde", "hasta"} <= set(names):
            for what, period in (("empty", ("2026-03-01T10:00:00+01:00", "2026-03-01T09:00:00Z")),
                                 ("backwards", ("2026-03-02T00:00:00Z", "2026-03-01T00:00:00Z")),
                                 ("367 days", ("2025-01-01T00:00:00Z", "2026-01-03T00:00:00Z"))):
                response = world.client.call("GET", service, path, world.a1.token,
                                             params=dict(zip(("desde", "hasta"), period)))
                if rec.expect(f"GET {service}{path} with an {what} period", response, 422):
                    assert _named(response) == {"hasta"}, (path, what)
    rec.check()


def test_a_period_at_the_ends_of_the_calendar_is_not_a_500(world, openapi, attacks):
    rec = attacks("periods")
    for service, path, names in _period_operations(openapi):
        for name, value in EDGE_INSTANTS:
            if name not in names:
                continue
            response = world.client.call("GET", service, path, world.a1.token, params={name: value})
            answered = response.status_code == 422 and _named(response) == {name}
            rec.record(f"GET {service}{path}?{name}={value}", answered, f"{response.status_code} {response.text[:200]}")
    rec.check()


def test_a_period_before_the_year_2000_is_refused_naming_its_ends(world, attacks):
    """Refused, naming each end (the fuzzing meets these: an answer with an
    unpadded year would break its own schema)."""
    rec = attacks("periods")
    for params in ({"hasta": "0561-08-25T18:56:39Z"},
                   {"desde": "0999-01-01T00:00:00Z", "hasta": "0999-06-01T00:00:00Z"}):
        response = world.client.call("GET", "resolucion", "/estadisticas", world.a1.token, params=params)
        answered = response.status_code == 422 and _named(response) == set(params)
        rec.record(f"GET resolucion/estadisticas with {params}", answered,
                   f"{response.status_code} {response.text[:300]}")
    rec.check()


def test_a_period_given_by_its_start_alone_keeps_the_limits(world, openapi, attacks):
    rec = attacks("periods")
    for service, path, names in _period_operations(openapi):
        if "desde" not in names:
            continue
        for what, value in (("starting in year 1", "0001-01-01T00:00:00Z"),
                            ("starting after its default end", "9999-01-01T00:00:00Z")):
            response = world.client.call("GET", service, path, world.a1.token, params={"desde": value})
            rec.record(f"GET {service}{path} with a period {what}", response.status_code == 422
                       and _named(response) == {"desde"}, f"{response.status_code} {response.text[:200]}")
    rec.check()


# -- CSV reports ---------------------------------------------------------------------

# What customers (a category) and employees (their name) write reaches the
# staff's CSV report; a spreadsheet runs a cell starting with one of these.
FORMULAS = ['=HYPERLINK("http://example.com/x","Abrir")', "+1+1", "-2+3", "@SUM(1,2)"]


def test_no_cell_of_the_csv_report_is_run_as_a_formula(world, client, attacks):
    rec = attacks("csv_formulas")
    cliente = client.new_cliente("Formulas")
    agente = client.new_empleado("agente", nombre="=1+1", email=f"formulas.{uuid.uuid4().hex[:10]}@example.com",
                                 admin_token=world.admin.token)
    world.wait_known_by_resolucion(agente)
    plain = 'Con "comillas", y coma'
    for categoria in (*FORMULAS, plain):
        incidencia_id = client.new_incidencia(cliente, categoria)["id"]
        wait_until(lambda: client.call("GET", "resolucion", f"/incidencias/{incidencia_id}",
                                       world.admin.token).status_code == 200, timeout=30,
                   message=f"resolucion has {incidencia_id}")
        assigned = client.call("POST", "resolucion", f"/incidencias/{incidencia_id}/asignacion", world.admin.token,
                               json={"empleado_id": agente.id})
        assert assigned.status_code == 200, assigned.text
        client.act(agente, "resolucion", incidencia_id, {"texto": "Hecho"})
        client.wait_customer_sees(cliente, incidencia_id, "resuelta")
        closed = client.call("POST", "apertura", f"/incidencias/{incidencia_id}/cierre", cliente.token, json={})
        assert closed.status_code == 200, closed.text
        rated = client.call("POST", "apertura", f"/incidencias/{incidencia_id}/valoracion", cliente.token,
                            json={"puntuacion": 3})
        assert rated.status_code == 201, rated.text
        wait_until(lambda: world.staff_view(incidencia_id).get("valoracion"), timeout=30,
                   message=f"resolucion has the rating of {incidencia_id}")
    response = client.call("GET", "resolucion", "/estadisticas/informe.csv", agente.token)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv"), response.text
    assert response.headers["content-disposition"].startswith("attachment"), response.headers
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_category = {r["valor"]: r for r in rows if r["seccion"] == "satisfaccion" and r["dimension"] == "categoria"}
    for formula in FORMULAS:
        cell = by_category.get("'" + formula, {}).get("valor")
        rec.record(f"category {formula!r} in the CSV report", cell == "'" + formula,
                   f"{sorted(by_category)[:10]}")
    rec.record("a category with quotes and a comma reads back as written", plain in by_category,
               f"{sorted(by_category)[:10]}")
    names = [r["nombre"] for r in rows if r["dimension"] == "agente" and r["valor"] == agente.id]
    rec.record("an agent named =1+1 in the CSV report", bool(names) and all(n.startswith("'=1+1") for n in names),
               str(names))
    rec.check()


# -- Unicode -------------------------------------------------------------------------

STORABLE = {
    "emoji": "Se rompió 🧯🔥 otra vez",
    "astral letters": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕡𝕣𝕠𝕓𝕝𝕖𝕞",
    "combining marks (NFD)": "Nin\u0303o rompio\u0301 la lampara",
    "right-to-left override": "factura \u202egnp.exe",
    "zero-width characters": "pala\u200bbra\u200d\u2060",
    "byte order mark": "\ufeffempieza con BOM",
    "non-characters": "fin \uffff \ufffe",
    "line and paragraph separators": "linea\u2028parrafo\u2029fin",
    "C1 controls": "control \u0085 \u009b",
    "NUL": "antes\u0000despues",
    "highest code point": "max \U0010ffff",
    "dotted and dotless i": "İstanbul ıi",
    "Arabic and Hebrew": "مرحبا שלום mixed",
    "zalgo": "Z" + "\u0336\u0337\u0338" * 30,
}


def test_unicode_text_is_stored_exactly_or_refused_never_500(world, client, attacks):
    """What a customer writes comes back identical, from both services."""
    rec = attacks("unicode")
    cliente = world.client.new_cliente("Unicode")
    categoria = world.categoria_of(world.a1)
    stored = {}
    for name, text in STORABLE.items():
        response = client.call("POST", "apertura", "/incidencias", cliente.token, json={
            "titulo": text[:200], "descripcion": text, "categoria": categoria,
            "producto": {"referencia": "U-1", "nombre": text[:200]}})
        if response.status_code == 201:
            mine = client.call("GET", "apertura", f"/incidencias/{response.json()['id']}", cliente.token).json()
            exact = mine["titulo"] == text[:200] and mine["descripcion"] == text
            rec.record(f"unicode {name} round trip in apertura", exact, repr(mine["descripcion"][:60]))
            stored[name] = response.json()["id"]
        else:
            rec.record(f"unicode {name} stored", False, f"{response.status_code} {response.text[:200]}")
    for name, incidencia_id in stored.items():
        view = world.wait_staff_sees(incidencia_id, "asignada")
        rec.record(f"unicode {name} round trip in resolucion", view["descripcion"] == STORABLE[name],
                   repr(view["descripcion"][:60]))
    rec.check()


def test_equivalent_emails_never_make_a_second_account(world, client, attacks):
    rec = attacks("unicode")
    mark = uuid.uuid4().hex[:6]
    original = f"jos\u00e9.{mark}@example.com"
    created = client.call("POST", "clientes", "/clientes", json={
        "nombre": "José", "apellidos": "Uno", "email": original, "password": "Cliente-pass-2026"})
    assert created.status_code == 201, created.text
    # The same address in other case is taken (409); one no valid address is
    # (a combining accent, spaces around it) is refused as such (422).
    for name, variant, answer in [
            ("upper case", original.upper(), 409), ("NFD", f"jose\u0301.{mark}@example.com", 422),
            ("surrounding spaces", f"  {original}  ", 422),
            ("upper-case domain", original.replace("example.com", "EXAMPLE.COM"), 409)]:
        response = client.call("POST", "clientes", "/clientes", json={
            "nombre": "José", "apellidos": "Dos", "email": variant, "password": "Cliente-pass-2026"})
        rec.expect(f"register the {name} form of a taken email", response, answer)
    rec.check()


# -- headers -------------------------------------------------------------------------

def test_hostile_headers_are_refused_or_neutralised(world, client, attacks):
    rec = attacks("headers")
    for value in ("<script>alert(1)</script>", "a" * 500, "id con espacios", "ñ", "../../etc/passwd"):
        response = client.call("GET", "clientes", "/salud/vivo", headers={"X-Correlation-ID": value.encode()})
        rec.record(f"X-Correlation-ID {value[:20]!r} is not echoed", response.status_code == 200
                   and response.headers["X-Correlation-ID"] != value)
    response = client.call("GET", "clientes", "/clientes/yo", headers={"Authorization": "Bearer " + "a" * 20_000})
    # gunicorn's own limits answer before the application (not a problem document).
    rec.record("a 20 kB Authorization header", response.status_code == 431, str(response.status_code))
    response = client.call("GET", "clientes", "/clientes/" + "a" * 9000, world.admin.token)
    rec.record("a 9 kB request line", response.status_code == 414, str(response.status_code))
    for content_type in ("text/plain", "application/xml", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x", "application/json-patch+json; charset=utf-7"):
        response = client.call("POST", "apertura", "/incidencias", world.c1.token,
                               content=b'{"titulo": "x"}', headers={"Content-Type": content_type})
        # A JSON type (+json) is read as JSON, and the body lacks fields; any other is 415.
        rec.expect(f"POST /incidencias as {content_type}", response, 422 if "+json" in content_type else 415)
    for key in ("", "a" * 201, "clave\u00f1", "x\ty", "x y"):
        response = client.call("POST", "apertura", "/incidencias", world.c1.token,
                               headers={"Idempotency-Key": key.encode()}, json={
                                   "titulo": "t", "descripcion": "d", "producto": {"referencia": "r", "nombre": "n"}})
        rec.expect(f"Idempotency-Key {key[:10]!r}", response, 400)
    rec.check()
