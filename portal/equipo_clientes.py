"""The console's customer pages (``/equipo/clientes``): find a customer
(by e-mail, name or a phone number written any way, as a call comes in)
and see who they are and everything they ever reported, the counts by
where each incident stands and the latest ones."""
from __future__ import annotations

from flask import render_template, request

from incidencias_dominio import ESTADOS_FINALES, Estado

from .auth import EQUIPO, call, requires
from .equipo import POR_PAGINA, bp
from .pages import page_number, read, segment

ULTIMAS = 10
"""How many of a customer's incidents their page lists, the newest first."""
GRUPOS = {
    "abiertas": tuple(e.value for e in Estado if e not in ESTADOS_FINALES and e != Estado.RESUELTA),
    "resueltas": (Estado.RESUELTA.value,),
    "cerradas": (Estado.CERRADA.value,),
    "canceladas": (Estado.CANCELADA.value,),
}
"""Where a customer's incidents stand: still with the team, waiting for the
customer's confirmation, closed, withdrawn."""


@bp.get("/clientes")
@requires(EQUIPO)
def clientes():
    pagina, q = page_number(), (request.args.get("q") or "").strip()[:100]
    params = {"pagina": pagina, "por_pagina": POR_PAGINA, **({"q": q} if q else {})}
    answer = call("clientes", "GET", "/clientes", params=params)
    if not answer.ok:
        return render_template("equipo/clientes.html", page=None, q=q,
                               error=(answer.problem or {}).get("detail")), answer.status
    return render_template("equipo/clientes.html", page=answer.data, q=q, error=None)


@bp.get("/clientes/<cliente_id>")
@requires(EQUIPO)
def cliente(cliente_id: str):
    cuenta = read("clientes", f"/clientes/{segment(cliente_id)}")
    # A page of one says how many there are in a state.
    resumen = {grupo: sum(read("resolucion", "/incidencias", cliente_id=cuenta["id"], estado=estado,
                               por_pagina=1)["total"] for estado in estados)
               for grupo, estados in GRUPOS.items()}
    ultimas = read("resolucion", "/incidencias", cliente_id=cuenta["id"], orden="recientes", por_pagina=ULTIMAS)
    return render_template("equipo/cliente.html", cuenta=cuenta, resumen=resumen, ultimas=ultimas)
