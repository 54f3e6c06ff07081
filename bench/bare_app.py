"""The ceiling of the HTTP stack: a bare Flask app served by the same gunicorn
configuration as the services (``--config python:common.gunicorn_config``).

``POST /incidencias`` parses the same JSON body the real endpoint receives
and answers 201 with a small JSON document; ``GET /incidencias`` answers a
small JSON list. No auth, no validation, no storage, no events: whatever the
real endpoints take beyond this is the cost of what they do.

    gunicorn --config python:common.gunicorn_config "bench.bare_app:create_app()"
"""
from __future__ import annotations

import uuid

from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask("bench_bare")

    @app.post("/incidencias")
    def open_incidencia():
        data = request.get_json()
        return jsonify({"id": uuid.uuid4().hex, "titulo": data.get("titulo"), "estado": "abierta"}), 201

    @app.get("/incidencias")
    def list_incidencias():
        return jsonify({"elementos": [], "pagina": 1, "por_pagina": 20, "total": 0})

    @app.get("/salud")
    def salud():
        return jsonify({"estado": "listo"})

    return app
