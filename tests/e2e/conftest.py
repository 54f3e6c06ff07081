"""End-to-end fixtures: the four services under gunicorn with their workers,
the real RabbitMQ, SQLite storage in a temporary directory (or a MongoDB
database per service when ``MONGO_URL`` or the ``*_MONGO_URL`` variables are
set, see harness/system.py), the session's ``system`` (tests/conftest.py);
driven over HTTP."""
from __future__ import annotations

import pytest

from harness import Driver


@pytest.fixture
def api(system):
    with Driver(system.urls, patience=20) as driver:
        yield driver
