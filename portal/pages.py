"""What both areas' pages do the same way: read a resource of an API (404
when it does not exist), answer the one-second polls of live updates, and
post an action on an incident that comes back to the incident's page."""
from __future__ import annotations

from typing import Any, Callable
from urllib.parse import quote

from flask import abort, flash, jsonify, redirect, request, url_for

from common.idempotency import valid_key

from .auth import call
from .forms import FormErrors, field_errors, typed

KEY_FIELD = "idempotency_key"
"""The hidden field of an action form holding its Idempotency-Key (``m.clave()``)."""


def segment(value: str) -> str:
    """A value of the page's URL as one segment of an API's path: ``.``,
    ``..`` or ``?rol=admin`` must name nothing but the resource the page is
    about (dots too are escaped, or the client would resolve them)."""
    return quote(value, safe="").replace(".", "%2E")


def page_number() -> int:
    """The ``pagina`` a list page asks for, within what the APIs accept."""
    try:
        return max(1, min(100_000, int(request.args.get("pagina", "1"))))
    except ValueError:
        return 1


def form_key() -> dict[str, str]:
    """The ``Idempotency-Key`` header for the API call a form makes: the key
    rendered into the form, so the same form sent twice (a double click, a
    resend after a lost answer) acts once. None sent when the form has none
    or a key the services would refuse."""
    key = request.form.get(KEY_FIELD, "")
    return {"Idempotency-Key": key} if valid_key(key) else {}


def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def read(service: str, path: str) -> dict:
    """GET ``path`` of ``service`` in the person's name; 404 when it does not exist for them."""
    answer = call(service, "GET", path)
    if answer.status == 404:
        abort(404)
    if not answer.ok:
        abort(400)
    return answer.data


def live_incident(incidencia: dict) -> Any:
    """What an open incident page polls: it reloads when any of these change."""
    return no_store(jsonify(estado=incidencia["estado"], version=incidencia["version"],
                            comentarios=len(incidencia.get("comentarios") or [])))


def live_list(page: dict) -> Any:
    """What an open list polls: the versions of the incidents it shows."""
    return no_store(jsonify(incidencias=[{"id": i["id"], "version": i["version"]} for i in page["elementos"]],
                            total=page["total"]))


def incident_action(service: str, method: str, incidencia_id: str, path: str, body: dict,
                    fields: tuple[str, ...], hecho: str,
                    again: Callable[[dict, dict, FormErrors, int], Any]) -> Any:
    """Send an action on the incident to ``service``: back to its page with
    ``hecho``, or ``again(incidencia, typed, errores, status)``, the page
    again with the refusal next to the fields (or above the form)."""
    answer = call(service, method, f"/incidencias/{segment(incidencia_id)}{path}", json=body, headers=form_key())
    if answer.status == 404:
        abort(404)
    if not answer.ok:
        return again(read(service, f"/incidencias/{segment(incidencia_id)}"), typed(request.form, fields),
                     field_errors(answer.problem, fields), answer.status)
    flash(hecho, "ok")
    return redirect(url_for(".incidencia", incidencia_id=incidencia_id))
