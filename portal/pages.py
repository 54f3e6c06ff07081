"""What both areas' pages do the same way: read a resource of an API (404
when it does not exist), answer the one-second polls of live updates, send
what a form asks with the form's Idempotency-Key, and post an action on an
incident that comes back to the incident's page.

The key of a form shown again (``form_key_for``, behind ``m.clave``):

- after a 5xx, a timeout or a cut connection the first request may have been
  applied with its answer lost, so the form sent is drawn again with the key
  it was sent with: sending it again as it is acts once (the services answer
  a retry as the first time). Sent again with something else changed, the
  services refuse it (409, key reused; nothing written) and the form is
  drawn with a new key and says why (``forms.KEY_REUSED``);
- after any other answer (a success, a 4xx refusal: nothing was written
  under that key) it gets a new key, so what is corrected and sent next is
  a request of its own, not one the services would take for the first.
"""
from __future__ import annotations

import uuid
from typing import Any, Callable
from urllib.parse import quote

from flask import abort, flash, g, jsonify, redirect, request, url_for

from common.idempotency import valid_key

from . import display
from .api import Answer, ServiceUnavailable
from .auth import anonymous_call, call
from .forms import FormErrors, field_errors, no_answer, typed

KEY_FIELD = "idempotency_key"
"""The hidden field of a form holding its Idempotency-Key (``m.clave``)."""
_KEPT = "portal_kept_key"


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


def form_call(service: str, method: str, path: str, *, json: Any = None, anonymous: bool = False) -> Answer:
    """What a form asks of ``service``, sent with the form's key (in the
    signed-in person's name, or ``anonymous``). When the service did not
    answer usably (``ServiceUnavailable``) the answer is a 503 problem saying
    it may have been done, and the form shown again keeps its key (see the
    module's docstring): the form is drawn again, not the 503 page, so it
    can be sent again as it is."""
    headers = form_key()
    try:
        return (anonymous_call if anonymous else call)(service, method, path, json=json, headers=headers)
    except ServiceUnavailable as exc:
        if headers:
            g.setdefault(_KEPT, headers["Idempotency-Key"])
        return Answer(503, {"status": 503, "title": "Servicio no disponible",
                            "detail": no_answer(display.SERVICIOS.get(exc.service, "El servicio"))}, {})


def form_key_for(endpoint: str) -> str:
    """The key to draw into a form posting to ``endpoint``: the key it was
    just sent with when this request is that form's, sent to a service that
    did not answer (``form_call``); a new one otherwise."""
    kept = g.get(_KEPT)
    return kept if kept is not None and request.endpoint == endpoint else uuid.uuid4().hex


def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def read(service: str, path: str, **params: Any) -> dict:
    """GET ``path`` of ``service`` (with the query ``params``) in the
    person's name; 404 when it does not exist for them."""
    answer = call(service, "GET", path, **({"params": params} if params else {}))
    if answer.status == 404:
        abort(404)
    if not answer.ok:
        abort(400)
    return answer.data


EMPTY_PAGE = {"elementos": [], "pagina": 1, "por_pagina": 0, "total": 0, "paginas": 1, "siguiente": None}


def search_text() -> str:
    """The list's search box as typed (the service says whether it is a search)."""
    return (request.args.get("q") or "").strip()[:1000]


def searched_list(service: str, params: dict[str, Any]) -> tuple[dict, FormErrors]:
    """A page of ``service``'s incident list, and what to say next to the
    search box: a ``q`` the service refuses (a character of a query
    language, too many words) is shown there, with an empty list, never as
    an error page."""
    answer = call(service, "GET", "/incidencias", params=params)
    if answer.ok:
        return answer.data, FormErrors()
    if answer.status == 400 and any(e.get("campo") == "q" for e in answer.problem.errores):
        return dict(EMPTY_PAGE), field_errors(answer.problem, ("q",))
    abort(answer.status if answer.status in (403, 404) else 400)


def live_incident(incidencia: dict) -> Any:
    """What an open incident page polls: it reloads when any of these change."""
    return no_store(jsonify(estado=incidencia["estado"], version=incidencia["version"],
                            comentarios=len(incidencia.get("comentarios") or [])))


def live_list(page: dict) -> Any:
    """What an open list polls: the versions of the incidents it shows."""
    return no_store(jsonify(incidencias=[{"id": i["id"], "version": i["version"]} for i in page["elementos"]],
                            total=page["total"]))


def incident_action(service: str, method: str, incidencia_id: str, path: str, body: dict,
                    fields: tuple[str, ...], hecho: str | Callable[[dict], str],
                    again: Callable[[dict, dict, FormErrors, int], Any],
                    siguiente: Callable[[dict], str] | None = None) -> Any:
    """Send an action on the incident to ``service``: back to its page with
    ``hecho`` (or, given ``siguiente``, to the page of the incident it names
    from the answer, with ``hecho`` of the answer), or ``again(incidencia,
    typed, errores, status)``, the page again with the refusal next to the
    fields (or above the form), or with the service's silence and the form's
    key kept (``form_call``)."""
    answer = form_call(service, method, f"/incidencias/{segment(incidencia_id)}{path}", json=body)
    if answer.status == 404:
        abort(404)
    if not answer.ok:
        return again(read(service, f"/incidencias/{segment(incidencia_id)}"), typed(request.form, fields),
                     field_errors(answer.problem, fields), answer.status)
    flash(hecho(answer.data) if callable(hecho) else hecho, "ok")
    return redirect(url_for(".incidencia", incidencia_id=siguiente(answer.data) if siguiente else incidencia_id))
