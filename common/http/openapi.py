"""What the OpenAPI documents say beyond what flask-smorest writes: every
status a client can receive on each operation, with the problem document
it comes with and the headers it carries, and the schema-level rules
(``minProperties``) marshmallow has no field for. Written once here so
each operation declares only what is its own (``common.http.operations``)."""
from __future__ import annotations

from typing import Any

import apispec
import marshmallow as ma
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls

from common.config import REQUEST_LINE_LIMIT

from .idempotency import HEADER

PROBLEM_JSON = "application/problem+json"
CONVENTIONS = f"""
Every error is answered as an RFC 9457 problem document
(`application/problem+json`) with `type`, `title`, `status` and `detail`;
a validation problem (400/422) names each invalid field in `errores`
(`campo`, `mensaje`, `ubicacion`). A 429 or a problem 503 carries
`Retry-After` (seconds). The readiness check (`/salud`) answers its 503 with
its own report, which names what is not ready.

One answer is not this API's: a request line (the URL with its query) over
{REQUEST_LINE_LIMIT} bytes is refused by the web server in front of it,
before the API runs, with `414 URI Too Long` and a short HTML body; a
gateway in front may refuse longer ones itself the same way.
"""
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before sending the request again",
                               "schema": {"type": "integer", "minimum": 0}}}
ENUM_NAME = "enum_name"
"""A field's metadata key naming its closed set (``common.http.schemas.one_of``)."""
LINKS_KEY = "x-answer-links"
"""Where ``operation()`` leaves an answer's links, ``{status: links}``, for
the plugin to put in that response (a ``responses`` entry in the operation's
doc would replace the response flask-smorest documents)."""
_WAIT_STATUSES = ("429", "503")
"""Answers that always carry ``Retry-After``."""


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {
        PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


# The answers any operation may get besides its own refusals, and when.
_SIGNED_IN = {"401": "No token, or a token not valid (expired, revoked, of another issuer)",
              "403": "The caller's role may not do this"}
_WITH_BODY = {"400": "The body is not valid JSON, or holds what no database can store",
              "413": "The body is larger than the service accepts",
              "415": "The body is not sent as application/json"}
_WITH_PATH_ID = {"404": "No such resource, or none the caller may see"}
_ALWAYS = {"503": "The storage (or the token issuer) is not available; nothing was done"}
WITHOUT_STORAGE = {"comprobarVida", "comprobarDisponibilidad", "leerMetricas", "obtenerClaves"}
"""The operations that read no storage (liveness, metrics, the public keys)
or report on it in their own shape (readiness): no storage 503 added."""


class ContractPlugin(apispec.BasePlugin):
    """Completes each operation's responses: error statuses documented by
    description only get their problem+json body; the statuses every
    operation of its kind can get (401/403 with a token, 400/413/415 with a
    body, 404 with an id in the path, 503 unless it reads no storage) are
    added where the operation does not document them itself; 429 and 503
    declare ``Retry-After``, and so does the 409 of an operation taking an
    ``Idempotency-Key`` (a request with that key still in progress).

    A schema's ``Meta.json_schema`` is added to its JSON Schema
    (``ChangesSchema``'s ``minProperties``). A closed set with a name
    (``one_of(..., name="Estado")``) becomes one schema of its own that
    every field and parameter of that set refers to, so a generated client
    has one ``Estado`` enum, not one per field; nullable, it is
    ``anyOf: [$ref, null]``, which generators type as the enum or None."""

    def init_spec(self, spec: apispec.APISpec) -> None:
        self.spec = spec
        for plugin in spec.plugins:
            if isinstance(plugin, MarshmallowPlugin):
                plugin.converter.add_attribute_function(_named_enum(spec))

    def schema_helper(self, name, definition, **kwargs):
        schema = kwargs.get("schema")
        if schema is None:
            return None
        return declared_rules(resolve_schema_cls(schema)) or None

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            if isinstance(operation, dict):
                self._complete(path or "", operation)

    def _complete(self, path: str, operation: dict[str, Any]) -> None:
        responses = operation.setdefault("responses", {})
        for status, links in operation.pop(LINKS_KEY, {}).items():
            responses[int(status) if int(status) in responses else status]["links"] = links
        expected = {} if operation.get("operationId") in WITHOUT_STORAGE else dict(_ALWAYS)
        if operation.get("security"):
            expected.update(_SIGNED_IN)
        if "requestBody" in operation:
            expected.update(_WITH_BODY)
        if "{" in path:
            expected.update(_WITH_PATH_ID)
        for status, description in expected.items():
            documented = responses.get(status, responses.get(int(status)))
            if documented is None:
                responses[status] = _problem(description)
            elif isinstance(documented, dict) and "description" in documented and status == "400":
                documented["description"] += f"; or: {description}"
        for status, response in responses.items():
            is_error = str(status).startswith(("4", "5")) or status == "default"
            if not (is_error and isinstance(response, dict) and "$ref" not in response):
                continue
            if "content" not in response:
                response.update(_problem(response.get("description", "")))
            waits = str(status) in _WAIT_STATUSES or (str(status) == "409" and _keyed(operation))
            if waits and PROBLEM_JSON in response["content"]:
                response.setdefault("headers", {}).update(RETRY_AFTER)


def _keyed(operation: dict[str, Any]) -> bool:
    """Whether the operation takes an ``Idempotency-Key``: its 409 may be
    "a request with that key still in progress", sent with ``Retry-After``."""
    return any(isinstance(p, dict) and p.get("name") == HEADER for p in operation.get("parameters", ()))


def _named_enum(spec: apispec.APISpec):
    def named_enum2ref(_converter, field: ma.fields.Field, ret: dict[str, Any], **_kwargs) -> dict[str, Any]:
        name = field.metadata.get(ENUM_NAME)
        if not name or "enum" not in ret:
            return {}
        values = [value for value in ret.pop("enum") if value is not None]
        types = ret.pop("type", "string")
        if name not in spec.components.schemas:
            spec.components.schema(name, {"type": "string", "enum": values})
        ref = {"$ref": f"#/components/schemas/{name}"}
        if isinstance(types, list) and "null" in types:
            ret["anyOf"] = [ref, {"type": "null"}]
        else:
            ret.update(ref)
        return {}

    return named_enum2ref


def declared_rules(schema: type[ma.Schema]) -> dict[str, Any]:
    """The schema-level rules a schema declares (``Meta.json_schema``)."""
    return dict(getattr(getattr(schema, "Meta", None), "json_schema", None) or {})
