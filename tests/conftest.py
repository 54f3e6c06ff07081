"""Fixtures shared by every test tier.

``store`` runs a test against each storage adapter: SQLite in a temporary
file, the MongoDB adapter on mongomock (an in-process fake of the server,
used because no MongoDB server can run on the development machines) and,
whenever ``MONGO_URL`` is set, the MongoDB adapter against that real server
in a database of its own.
"""
from __future__ import annotations

import os
import uuid

import pytest

from common.storage.mongo import MongoStore
from common.storage.sqlite import SQLiteStore

STORE_KINDS = ["sqlite", "mongomock"] + (["mongodb"] if os.environ.get("MONGO_URL") else [])


def _real_mongo_url(database: str) -> str:
    from pymongo.uri_parser import parse_uri

    url = os.environ["MONGO_URL"]
    parsed = parse_uri(url)
    if parsed.get("database"):
        head, _, tail = url.partition("/" + parsed["database"])
        return f"{head}/{database}{tail}"
    base, _, query = url.partition("?")
    return f"{base.rstrip('/')}/{database}" + (f"?{query}" if query else "")


@pytest.fixture(params=STORE_KINDS)
def store(request, tmp_path):
    kind = request.param
    if kind == "sqlite":
        instance = SQLiteStore(tmp_path / "test.sqlite3")
    elif kind == "mongomock":
        import mongomock

        instance = MongoStore("mongodb://localhost/test", client=mongomock.MongoClient())
    else:
        database = f"test_{uuid.uuid4().hex[:12]}"
        instance = MongoStore(_real_mongo_url(database))
    yield instance
    if kind == "mongodb":
        instance.client.drop_database(instance.db.name)
    instance.close()
