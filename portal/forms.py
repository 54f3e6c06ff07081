"""What the forms need besides the templates: a problem+json answer turned
into messages next to the fields it names, the words of a refusal (403,
409), the values typed kept for showing the form again, and a safe place to
go back to after signing in. Pure functions, no Flask."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from . import display
from .api import Problem

# marshmallow's own messages (the services' schemas use them for types and
# lengths) in the portal's language; the services' own messages are Spanish already.
_MESSAGES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^Missing data for required field\.$"), "Este campo es obligatorio."),
    (re.compile(r"^Field may not be null\.$"), "Este campo es obligatorio."),
    (re.compile(r"^Length must be between 1 and (\d+)\.$"), "Debe tener entre 1 y {0} caracteres."),
    (re.compile(r"^Length must be between (\d+) and (\d+)\.$"), "Debe tener entre {0} y {1} caracteres."),
    (re.compile(r"^Longer than maximum length (\d+)\.$"), "Como mucho {0} caracteres."),
    (re.compile(r"^Shorter than minimum length (\d+)\.$"), "Al menos {0} caracteres."),
    (re.compile(r"^Not a valid email address\.$"), "No es un email válido."),
    (re.compile(r"^Not a valid date\.$"), "No es una fecha válida."),
    (re.compile(r"^Not a valid string\.$"), "No es un texto válido."),
    (re.compile(r"^Not a valid boolean\.$"), "No es un valor válido."),
    (re.compile(r"^Not a valid integer\.$"), "No es un número válido."),
    (re.compile(r"^Not a valid list\.$"), "No es una lista válida."),
    (re.compile(r"^Not a valid aware datetime\.$"), "No es una fecha válida."),
    (re.compile(r"^Must be greater than or equal to (\d+) and less than or equal to (\d+)\.$"),
     "Debe estar entre {0} y {1}."),
    (re.compile(r"^Must be one of: (.*)\.$"), "Debe ser uno de: {0}."),
    (re.compile(r"^Unknown field\.$"), "Campo no admitido."),
]


def spanish(message: str) -> str:
    """A service's message for a field, in Spanish."""
    for pattern, replacement in _MESSAGES:
        match = pattern.match(message.strip())
        if match:
            return replacement.format(*match.groups())
    return message


KEY_REUSED = ("Este formulario ya se había enviado con otros datos. Compruebe si ya se hizo lo que pedía "
              "y, si no, vuelva a enviarlo.")


def no_answer(servicio: str) -> str:
    """What a form shown again says when ``servicio`` (its words, as
    ``display.SERVICIOS`` has them) did not answer: what was asked may have
    been done, and sending the form again as it is will not do it twice."""
    return (f"{servicio} no ha respondido, así que no sabemos si se ha hecho lo que pedía. Compruébelo y, "
            "si no, vuelva a enviarlo tal como está: no se hará dos veces.")


@dataclass
class FormErrors:
    """Messages for a form: ``campos`` next to each field (by its name),
    ``generales`` above the form."""

    campos: dict[str, str] = field(default_factory=dict)
    generales: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.campos or self.generales)

    def add(self, campo: str, mensaje: str) -> None:
        self.campos[campo] = f"{self.campos[campo]} {mensaje}" if campo in self.campos else mensaje


def field_errors(problem: Problem, fields: Iterable[str]) -> FormErrors:
    """``problem``'s ``errores`` next to the form ``fields`` they name
    (``producto.referencia`` is a field's name as it is); errors about
    anything else, or a problem with no ``errores``, go above the form."""
    if problem.key_reused:
        # The form's hidden key: a form sent once already, then changed and sent again.
        return FormErrors(generales=[KEY_REUSED])
    names = set(fields)
    errors = FormErrors()
    for error in problem.errores:
        campo = str(error.get("campo") or "")
        if campo not in names:
            campo = re.sub(r"(\.\d+)+$", "", campo)  # categorias.0: the field of the whole list
        mensaje = spanish(str(error.get("mensaje") or ""))
        if campo in names:
            if mensaje not in errors.campos.get(campo, ""):
                errors.add(campo, mensaje)
        else:
            general = f"{campo}: {mensaje}" if campo and not campo.startswith("(") else mensaje
            if general not in errors.generales:
                errors.generales.append(general)
    if not errors:
        errors.generales.append(refusal(problem))
    return errors


def refusal(problem: Problem) -> str:
    """A refused action (403, 404, 409…) said plainly. A conflict of state
    names the state the incident is in now."""
    estado_actual = problem.extra.get("estado_actual") or problem.extra.get("estado")
    if problem.status == 409 and estado_actual:
        return (f"No se ha podido hacer: la incidencia está ahora «{display.estado(estado_actual)}» "
                f"y esa acción ya no es posible.")
    if problem.status == 404:
        return problem.detail or "No existe."
    if problem.status == 403:
        return f"No tiene permiso para hacer esto. {problem.detail}".strip()
    return problem.detail or problem.title or f"Error {problem.status}"


def typed(form: Mapping[str, Any], fields: Iterable[str]) -> dict[str, str]:
    """What the person typed in ``fields`` (to fill the form in again)."""
    return {name: str(form.get(name, "")) for name in fields}


def text_or_none(form: Mapping[str, Any], name: str) -> str | None:
    """A field's text, None when left empty."""
    value = str(form.get(name, "") or "").strip()
    return value or None


def put_present(body: dict[str, Any], name: str, value: str | None) -> None:
    """Send a field only when something was typed in it: an empty required
    field is then refused as missing ("Este campo es obligatorio")."""
    if value is not None and value.strip():
        body[name] = value


def safe_next(target: str | None, default: str) -> str:
    """``target`` if it is a path of this site, ``default`` otherwise
    (never another site: no scheme, no ``//host``, no backslash)."""
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(c) < 32 for c in target)):
        return default
    return target


CAMPOS_INCIDENCIA = ("producto.referencia", "producto.nombre", "pedido", "titulo", "descripcion", "categoria",
                     "prioridad")
"""The fields of the form that opens an incident, the customer's own or the one staff fill in on a call."""


def incidencia_nueva(form: Mapping[str, Any]) -> dict[str, Any]:
    """The body that opens an incident, from its form (``CAMPOS_INCIDENCIA``)."""
    producto: dict[str, Any] = {}
    put_present(producto, "referencia", form.get("producto.referencia"))
    put_present(producto, "nombre", form.get("producto.nombre"))
    body: dict[str, Any] = {"producto": producto, "prioridad": form.get("prioridad") or "media"}
    for name in ("titulo", "descripcion"):
        put_present(body, name, form.get(name))
    body["pedido"] = text_or_none(form, "pedido")
    body["categoria"] = text_or_none(form, "categoria")
    return body


CAMPOS_VALORACION = ("puntuacion", "comentario")
"""The fields of the customer's rating of a closed incident."""
SIN_PUNTUACION = "Elija una puntuación, del 1 (muy mal) al 5 (muy bien)."


def valoracion(form: Mapping[str, Any]) -> tuple[dict[str, Any], FormErrors]:
    """The body of ``POST /incidencias/{id}/valoracion`` from its form: the
    score chosen as an integer and the comment (None when left blank); a
    score missing or not one of 1–5 is said next to it without asking the API."""
    errores = FormErrors()
    texto = str(form.get("puntuacion") or "").strip()
    puntuacion = int(texto) if texto in {str(n) for n in display.PUNTUACIONES} else None
    if puntuacion is None:
        errores.add("puntuacion", SIN_PUNTUACION)
    return {"puntuacion": puntuacion, "comentario": text_or_none(form, "comentario")}, errores
