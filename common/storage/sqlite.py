"""SQLite adapter: the embedded default storage.

One file per service, WAL mode so readers never block the writer, one
connection per process and thread (opened lazily, reopened after a fork).
Each collection is a table ``(id, rev, doc)`` with the aggregate stored as a
JSON document; queried paths get expression indexes on ``json_extract`` so a
lookup costs the same at 100 documents or 100,000.

Every collection shares two outbox tables, written in the transaction of the
change: ``outbox`` (events, in ``seq`` order) and ``mail_outbox`` (mails, with
the collection and document they belong to, so ``delete`` takes them; a
partial index over the pending ones serves ``due_mails`` and
``claim_due_mails``, which finds and leases its mails in one write
transaction; a failed mail stays as a row in state ``fallido`` without its
body). Unlike the MongoDB
and in-memory adapters, any collection may take events and mails: the
tables do not depend on which collections a service declared.

A collection with a full-text index (``CollectionSpec.text``) has an FTS5
table beside it, ``<name>__texto`` (one column per indexed path, tokenizer
``unicode61 remove_diacritics 2``), whose rows are the documents' texts,
written in the transaction of the document (a write that changes no indexed
text leaves its row alone). Its rowids are kept in ``<name>__texto_filas
(fila INTEGER PRIMARY KEY, doc_id UNIQUE)``, not taken from the collection's
own rowid, which ``VACUUM`` may renumber. A search joins the three and ranks
by ``bm25`` with the paths' weights, reading first from the words or from
the other filters' index, whichever selects fewer (``_words_first``). The table is built from the stored
documents when it is first declared, when its declaration changes and when
it misses documents (a process that did not declare it wrote some); a
collection opened without one never drops it.

Counters are rows of ``counters (name, value)``, moved in the transaction of
the change by one upsert per counter (``value = value + delta``), so a
refused write, rolled back, moves none; ``counters(names)`` is one
``SELECT ... WHERE name IN (...)`` on the primary key.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .base import (
    MAIL_FAILED,
    MAIL_PENDING,
    Collection,
    CollectionSpec,
    CounterChange,
    DuplicateKeyError,
    Index,
    OutboxItem,
    OutboxMessage,
    PendingMail,
    Query,
    StorageUnavailable,
    Store,
    counter_names,
    counter_values,
    mail_error,
    mail_instant,
    merge_counters,
    split_counters,
    split_outbox,
    text_index_for,
)
from .doorbell import Bell, address_for
from .text import column_text, phrases

log = logging.getLogger(__name__)

_SAFE_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_UNAVAILABLE_MARKERS = ("locked", "readonly", "unable to open", "disk i/o", "busy", "read-only")

_MAIL_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS mail_outbox ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
    " collection TEXT NOT NULL, doc_id TEXT NOT NULL, recipient TEXT NOT NULL, body TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT NOT NULL, created_at TEXT NOT NULL,"
    f" state TEXT NOT NULL DEFAULT '{MAIL_PENDING}', last_error TEXT, failed_at TEXT)",
    # The literal state in the WHERE of ``due_mails`` is what lets SQLite use this partial index.
    "CREATE INDEX IF NOT EXISTS mail_outbox_due ON mail_outbox (next_attempt_at, seq)"
    f" WHERE state = '{MAIL_PENDING}'",
    "CREATE INDEX IF NOT EXISTS mail_outbox_document ON mail_outbox (collection, doc_id)",
    "CREATE INDEX IF NOT EXISTS mail_outbox_recipient ON mail_outbox (recipient)",
)
_COUNTERS_SCHEMA = "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID"
_MOVE_COUNTER = ("INSERT INTO counters (name, value) VALUES (?, ?)"
                 " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value")
_SET_COUNTER = ("INSERT INTO counters (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value")
# Names asked in one SELECT (SQLite took at most 999 parameters before 3.32).
_COUNTERS_PER_SELECT = 500
_DUE_MAILS = (
    "SELECT id, recipient, body, attempts, next_attempt_at, created_at, seq FROM mail_outbox"
    f" WHERE state = '{MAIL_PENDING}' AND next_attempt_at <= ? ORDER BY next_attempt_at, seq LIMIT ?"
)


def _dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def _expr(path: str) -> str:
    if path == "id":
        return "id"
    if not _SAFE_PATH.match(path):
        raise ValueError(f"invalid document path {path!r}")
    return f"json_extract(doc, '$.{path}')"


def _same_sql(stored: str | None, wanted: str) -> bool:
    return stored is not None and " ".join(stored.split()) == " ".join(wanted.split())


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _translate(exc: sqlite3.Error) -> Exception:
    message = str(exc).lower()
    if isinstance(exc, sqlite3.OperationalError) or any(m in message for m in _UNAVAILABLE_MARKERS):
        return StorageUnavailable(f"sqlite: {exc}")
    return exc


class SQLiteStore(Store):
    def __init__(self, path: str | os.PathLike[str], busy_timeout_ms: int = 5000):
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._collections: dict[str, SQLiteCollection] = {}
        self._schema_ready = False
        self._bell = Bell(address_for(self.path))
        self._mail_bell = Bell(address_for(self.path, "mail"))

    # -- connections -------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=self.busy_timeout_ms / 1000,
                check_same_thread=True,
            )
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            self._enable_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            # SQLite's lower() folds ASCII only; searches fold like Python (and MongoDB).
            conn.create_function("unicode_lower", 1, _unicode_lower, deterministic=True)
        except (sqlite3.Error, OSError) as exc:
            raise StorageUnavailable(f"sqlite: cannot open {self.path}: {exc}") from exc
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """WAL mode (it stays in the file). Switching a new file to it takes an
        exclusive lock, and SQLite answers "database is locked" at once,
        without waiting ``busy_timeout``, to a connection that meets another
        one doing the same: a service's workers opening a new data directory
        together. Retried as a busy lock would be, until ``busy_timeout``."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                    raise
            time.sleep(0.005)

    @property
    def conn(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid() or local.conn is None:
            local.conn = self._connect()
            local.pid = os.getpid()
            # SQLite opens a file it may not write read-only, and keeps it so.
            local.read_only = not os.access(self.path, os.W_OK)
            if not self._schema_ready:
                self._create_schema(local.conn)
        return local.conn

    def _writable_conn(self) -> sqlite3.Connection:
        """The thread's connection, able to write: one opened while the file was
        write-protected (read-only for good) is reopened, and refused while the
        file still is, so the store recovers by itself when the file is writable."""
        conn = self.conn
        if self._local.read_only:
            self._drop_connection()
            conn = self.conn
            if self._local.read_only:
                raise StorageUnavailable(f"sqlite: {self.path} is read-only")
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self.conn
        except sqlite3.Error as exc:
            self._drop_connection()
            translated = _translate(exc)
            if translated is exc:
                raise
            raise translated from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: the write lock is taken up front, so two
        writers queue on ``busy_timeout`` instead of deadlocking on upgrade."""
        conn = self._writable_conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._drop_connection()
            raise _translate(exc) from exc
        self._local.events_added = self._local.mails_added = False
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            self._local.events_added = self._local.mails_added = False
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                self._drop_connection()
            translated = _translate(exc) if isinstance(exc, sqlite3.Error) else exc
            if translated is exc:
                raise
            raise translated from exc
        if self._local.events_added:
            self._local.events_added = False
            self._bell.ring()
        if self._local.mails_added:
            self._local.mails_added = False
            self._mail_bell.ring()

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS outbox ("
                " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
                " routing_key TEXT NOT NULL, body TEXT NOT NULL, correlation_id TEXT)"
            )
            for statement in _MAIL_SCHEMA:
                conn.execute(statement)
            conn.execute(_COUNTERS_SCHEMA)
        except sqlite3.Error as exc:
            raise _translate(exc) from exc
        self._schema_ready = True

    # -- Store -------------------------------------------------------------
    def collection(self, spec: CollectionSpec) -> "SQLiteCollection":
        existing = self._collections.get(spec.name)
        if existing is None:
            existing = SQLiteCollection(self, spec)
            try:
                existing.ensure_schema()
            except StorageUnavailable:
                # The database is down right now (locked, read-only): the first
                # operation creates the table once it is back, so a process that
                # starts during an outage still starts (and answers 503).
                pass
            self._collections[spec.name] = existing
        return existing

    def add_events(self, conn: sqlite3.Connection, events: Sequence[OutboxMessage]) -> None:
        if events:
            self._local.events_added = True
        conn.executemany(
            "INSERT INTO outbox (id, routing_key, body, correlation_id) VALUES (?, ?, ?, ?)",
            [(e.id, e.routing_key, e.body, e.correlation_id) for e in events],
        )

    def add_outbox(self, conn: sqlite3.Connection, collection: str, doc_id: str,
                   items: Sequence[OutboxItem]) -> None:
        """Store the events and the mails of one write and move its
        counters, in its transaction."""
        items, changes = split_counters(items)
        events, mails = split_outbox(items)
        self.move_counters(conn, changes)
        self.add_events(conn, events)
        if mails:
            self._local.mails_added = True
            now = mail_instant()
            # A mail id already stored (the same change run again) is kept as it is.
            conn.executemany(
                "INSERT INTO mail_outbox (id, collection, doc_id, recipient, body, attempts, next_attempt_at,"
                " created_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (id) DO NOTHING",
                [(m.id, collection, doc_id, m.recipient, m.body, now, now) for m in mails],
            )

    @staticmethod
    def move_counters(conn: sqlite3.Connection, changes: Sequence[CounterChange]) -> None:
        """One upsert per counter moved, in the caller's transaction."""
        if changes:
            conn.executemany(_MOVE_COUNTER, [(c.name, c.delta) for c in changes])

    # -- counters ------------------------------------------------------------
    def counters(self, names: Iterable[str]) -> dict[str, int]:
        names = counter_names(names)
        values = dict.fromkeys(names, 0)
        with self.read() as conn:
            for start in range(0, len(names), _COUNTERS_PER_SELECT):
                chunk = names[start:start + _COUNTERS_PER_SELECT]
                values.update(conn.execute(
                    f"SELECT name, value FROM counters WHERE name IN ({', '.join('?' * len(chunk))})", chunk))
        return values

    def explain_counters(self, names: Sequence[str]) -> list[str]:
        """SQLite's plan for the read of ``counters(names)`` (``EXPLAIN QUERY PLAN``)."""
        with self.read() as conn:
            return [row[3] for row in conn.execute(
                f"EXPLAIN QUERY PLAN SELECT name, value FROM counters WHERE name IN ({', '.join('?' * len(names))})",
                list(names)).fetchall()]

    def adjust_counters(self, changes: Sequence[CounterChange]) -> None:
        changes = merge_counters(changes)
        if changes:
            with self.transaction() as conn:
                self.move_counters(conn, changes)

    def set_counters(self, values: Mapping[str, int]) -> None:
        values = counter_values(values)
        if values:
            with self.transaction() as conn:
                conn.executemany(_SET_COUNTER, list(values.items()))

    def pending_events(self, limit: int = 100) -> list[OutboxMessage]:
        with self.read() as conn:
            rows = conn.execute(
                "SELECT id, routing_key, body, correlation_id FROM outbox ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [OutboxMessage(*row) for row in rows]

    def mark_published(self, event_ids: Iterable[str]) -> None:
        ids = list(event_ids)
        if not ids:
            return
        with self.transaction() as conn:
            conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    # -- the mail outbox ---------------------------------------------------
    def due_mails(self, now: str, limit: int = 50) -> list[PendingMail]:
        with self.read() as conn:
            rows = conn.execute(_DUE_MAILS, (mail_instant(now), limit)).fetchall()
        return [PendingMail(*row[:6]) for row in rows]

    def claim_due_mails(self, now: str, lease_until: str, limit: int = 50) -> list[PendingMail]:
        """The due mails, read and leased in one IMMEDIATE transaction: the
        write lock is held from the read on, so a claim running alongside
        (another worker process) waits, then sees them leased."""
        lease_until = mail_instant(lease_until)
        with self.transaction() as conn:
            rows = conn.execute(_DUE_MAILS, (mail_instant(now), limit)).fetchall()
            conn.executemany("UPDATE mail_outbox SET next_attempt_at = ? WHERE seq = ?",
                             [(lease_until, row[6]) for row in rows])
        return [PendingMail(row[0], row[1], row[2], row[3], lease_until, row[5]) for row in rows]

    def explain_due_mails(self, now: str, limit: int = 50) -> list[str]:
        """SQLite's plan for ``due_mails``, the read ``claim_due_mails`` makes too (``EXPLAIN QUERY PLAN``)."""
        with self.read() as conn:
            return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {_DUE_MAILS}",
                                                   (mail_instant(now), limit)).fetchall()]

    def mail_sent(self, mail_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM mail_outbox WHERE id = ?", (mail_id,))

    def mail_retry(self, mail_id: str, attempts: int, next_attempt_at: str, error: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE mail_outbox SET attempts = ?, next_attempt_at = ?, last_error = ?"
                " WHERE id = ? AND state = ?",
                (attempts, mail_instant(next_attempt_at), mail_error(error), mail_id, MAIL_PENDING),
            )

    def mail_failed(self, mail_id: str, attempts: int, error: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE mail_outbox SET state = ?, attempts = ?, last_error = ?, failed_at = ?, body = ''"
                " WHERE id = ? AND state = ?",
                (MAIL_FAILED, attempts, mail_error(error), mail_instant(), mail_id, MAIL_PENDING),
            )

    def cancel_mails(self, recipient: str) -> int:
        with self.transaction() as conn:
            return conn.execute("DELETE FROM mail_outbox WHERE recipient = ?", (recipient,)).rowcount

    def mail_counts(self) -> dict[str, int]:
        counts = {MAIL_PENDING: 0, MAIL_FAILED: 0}
        with self.read() as conn:
            for state, n in conn.execute("SELECT state, count(*) FROM mail_outbox GROUP BY state"):
                counts[state] = n
        return counts

    def ping(self) -> None:
        with self.read() as conn:
            conn.execute("SELECT 1").fetchone()
            if conn.execute("PRAGMA query_only").fetchone()[0]:
                raise StorageUnavailable("sqlite: database is read-only")
        if not os.access(self.path, os.W_OK):
            raise StorageUnavailable(f"sqlite: {self.path} is not writable")
        self._check_write_lock()

    def _check_write_lock(self, wait_ms: int = 1000) -> None:
        """A write would not hang: the write lock can be had within ``wait_ms``
        (someone else holding it longer, e.g. a stuck maintenance transaction,
        makes every write of the service wait and then fail)."""
        conn = self._writable_conn()
        try:
            conn.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
            finally:
                conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        except sqlite3.Error as exc:
            self._drop_connection()
            raise StorageUnavailable(f"sqlite: cannot take the write lock of {self.path}: {exc}") from exc

    def close(self) -> None:
        self._drop_connection()

    def relay_address(self) -> str | bytes:
        return address_for(self.path)

    def mail_address(self) -> str | bytes:
        return address_for(self.path, "mail")


class SQLiteCollection(Collection):
    def __init__(self, store: SQLiteStore, spec: CollectionSpec):
        if not _SAFE_PATH.match(spec.name):
            raise ValueError(f"invalid collection name {spec.name!r}")
        self.store = store
        self.spec = spec
        self.table = f'"{spec.name}"'
        self._schema_ready = False

    def _ensure(self) -> None:
        if not self._schema_ready:
            self.ensure_schema()

    def index_sql(self, index: Index) -> str:
        """The statement that builds ``index``, as SQLite keeps it in ``sqlite_master``."""
        columns = ", ".join(f"{_expr(path)}{' DESC' if direction < 0 else ''}" for path, direction in index.keys)
        unique = "UNIQUE " if index.unique else ""
        return f'CREATE {unique}INDEX "{self.spec.name}_{index.name}" ON {self.table} ({columns})'

    def _schema(self, conn: sqlite3.Connection) -> tuple[bool, dict[str, str]]:
        """Whether the table exists, and its indexes' names -> their statements."""
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ?", (self.spec.name,)
        ).fetchall()
        table = any(kind == "table" for kind, _, _ in rows)
        return table, {name: sql for kind, name, sql in rows if kind == "index" and sql}

    def ensure_schema(self) -> None:
        """The table and the declared indexes, as declared. An index whose
        declaration changed since it was built (other fields, directions) is
        rebuilt under its name; one that cannot be (a unique index the stored
        documents violate) is left as it was and reported in one line, as is
        an index no longer declared: never a start-up that fails for good."""
        wanted = {f"{self.spec.name}_{index.name}": (index, self.index_sql(index)) for index in self.spec.indexes}
        # Already there (every start but the first): a read, no write lock needed.
        with self.store.read() as conn:
            table, present = self._schema(conn)
            text_ready = self._text_declared(conn)
        if table and text_ready and all(_same_sql(present.get(name), sql) for name, (_, sql) in wanted.items()):
            self._report_undeclared(present, wanted)
            self._schema_ready = True
            return
        with self.store.transaction() as conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                " id TEXT PRIMARY KEY, rev INTEGER NOT NULL, doc TEXT NOT NULL)"
            )
        for name, (index, sql) in wanted.items():
            self._migrate_index(name, index, sql)
        self._migrate_text()
        with self.store.read() as conn:
            self._report_undeclared(self._schema(conn)[1], wanted)
        self._schema_ready = True

    # -- the full-text index -------------------------------------------------
    @property
    def _fts(self) -> str:
        return f'"{self.spec.name}__texto"'

    @property
    def _fts_rows(self) -> str:
        return f'"{self.spec.name}__texto_filas"'

    @property
    def _fts_columns(self) -> str:
        """The FTS5 table's columns, one per indexed path (``TextIndex`` keeps their names apart)."""
        return ", ".join(f'"c_{path.replace(".", "_")}"' for path in self.spec.text.paths)

    def text_sql(self) -> str | None:
        """The statement that builds the FTS5 table, as ``sqlite_master`` keeps it (None: no text index)."""
        if self.spec.text is None:
            return None
        return (f"CREATE VIRTUAL TABLE {self._fts} USING fts5({self._fts_columns},"
                " tokenize = 'unicode61 remove_diacritics 2')")

    def _stored_text_sql(self, conn: sqlite3.Connection) -> str | None:
        row = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (f"{self.spec.name}__texto",)).fetchone()
        return row[0] if row else None

    def _text_declared(self, conn: sqlite3.Connection) -> bool:
        """Whether the FTS5 table is as declared and holds a row for every
        document (a spec without one leaves it alone: see ``_migrate_text``)."""
        wanted = self.text_sql()
        if wanted is None:
            return True
        if not _same_sql(self._stored_text_sql(conn), wanted):
            return False
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (f"{self.spec.name}__texto_filas",)).fetchone() \
                is None:
            return False
        # Every document has its row and every row its document (a writer that
        # did not declare the index inserted or deleted some). As many rows as
        # documents, each document's id among the rows' (unique) ones, says
        # both with one pass over the documents instead of two.
        return conn.execute(
            f"SELECT (SELECT count(*) FROM {self._fts_rows}) = (SELECT count(*) FROM {self.table})"
            f" AND NOT EXISTS (SELECT 1 FROM {self.table} WHERE id NOT IN (SELECT doc_id FROM {self._fts_rows}))"
        ).fetchone()[0] == 1

    def _migrate_text(self) -> None:
        """Build the FTS5 table from the stored documents, and rebuild it
        when its declaration changed or it misses documents (written by a
        process that did not declare it): in one transaction, so searches
        see the old index or the whole new one. A collection opened without
        a text index (a tool counting documents, an older version) never
        drops it: it would break the writes of every process that declares
        it."""
        if self.spec.text is None:
            return
        with self.store.transaction() as conn:
            if self._text_declared(conn):
                return
            previous = self._stored_text_sql(conn)
            conn.execute(f"DROP TABLE IF EXISTS {self._fts}")
            conn.execute(f"DROP TABLE IF EXISTS {self._fts_rows}")
            conn.execute(f"CREATE TABLE {self._fts_rows} (fila INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE)")
            conn.execute(self.text_sql())
            count = 0
            for doc_id, body in conn.execute(f"SELECT id, doc FROM {self.table}"):  # a row at a time
                self._write_text(conn, doc_id, json.loads(body))
                count += 1
        if previous is not None or count:
            log.warning("sqlite: built the full-text index of %s from its %d documents%s", self.spec.name, count,
                        f" (was: {previous})" if previous else "")

    def _texts(self, body: dict[str, Any]) -> tuple[str, ...]:
        return tuple(column_text(body, path) for path in self.spec.text.paths)

    def _write_text(self, conn: sqlite3.Connection, doc_id: str, body: dict[str, Any]) -> None:
        """The document's row of the FTS5 table, in the caller's transaction;
        left alone when its texts did not change (most writes: a state, an
        assignee), so the index only churns when words do."""
        if self.spec.text is None:
            return
        texts, columns = self._texts(body), self._fts_columns
        row = conn.execute(f"SELECT fila FROM {self._fts_rows} WHERE doc_id = ?", (doc_id,)).fetchone()
        if row is None:
            fila = conn.execute(f"INSERT INTO {self._fts_rows} (doc_id) VALUES (?)", (doc_id,)).lastrowid
        else:
            fila = row[0]
            stored = conn.execute(f"SELECT {columns} FROM {self._fts} WHERE rowid = ?", (fila,)).fetchone()
            if stored is not None and tuple(stored) == texts:
                return
            conn.execute(f"DELETE FROM {self._fts} WHERE rowid = ?", (fila,))
        conn.execute(f"INSERT INTO {self._fts} (rowid, {columns}) VALUES (?{', ?' * len(texts)})", (fila, *texts))

    def _drop_text(self, conn: sqlite3.Connection, doc_id: str) -> None:
        if self.spec.text is None:
            return
        conn.execute(f"DELETE FROM {self._fts} WHERE rowid IN (SELECT fila FROM {self._fts_rows} WHERE doc_id = ?)",
                     (doc_id,))
        conn.execute(f"DELETE FROM {self._fts_rows} WHERE doc_id = ?", (doc_id,))

    def _migrate_index(self, name: str, index: Index, sql: str) -> None:
        """Build ``index``, or rebuild it if it was built from another
        declaration, in one transaction (readers see the old or the new one)."""
        try:
            with self.store.transaction() as conn:
                current = self._schema(conn)[1].get(name)  # again, under the write lock
                if _same_sql(current, sql):
                    return
                if current is not None:
                    conn.execute(f'DROP INDEX "{name}"')
                conn.execute(sql)
        except sqlite3.IntegrityError as exc:
            log.error("sqlite: index %s of %s cannot be built as declared (%s); the stored documents break it: "
                      "it stays as it was until they are fixed", name, self.spec.name, exc)
            return
        if current is not None:
            log.warning("sqlite: index %s of %s changed; rebuilt it (was: %s)", name, self.spec.name, current)

    def _report_undeclared(self, present: dict[str, str], wanted: dict[str, Any]) -> None:
        prefix = f"{self.spec.name}_ix_"
        left = sorted(name for name in present if name.startswith(prefix) and name not in wanted)
        if left:
            log.warning("sqlite: indexes of %s no longer declared: %s (drop them once no older version runs)",
                        self.spec.name, ", ".join(left))

    def explain(self, query: Query, skip: int = 0, limit: int | None = None) -> list[str]:
        """SQLite's plan for ``find(query, skip, limit)`` (``EXPLAIN QUERY
        PLAN``, one line per step): what an operator, or a test, reads to see
        whether an index serves a list's filter and sort."""
        self._ensure()
        with self.store.read() as conn:
            sql, params = self._select(query, skip, limit, self._words_first(conn, query))
            return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()]

    def _duplicate(self, exc: sqlite3.IntegrityError) -> DuplicateKeyError:
        message = str(exc)
        for index in self.spec.indexes:
            if index.unique and f"{self.spec.name}_{index.name}" in message:
                return DuplicateKeyError(index.fields)
        if "json_extract" in message:
            for index in self.spec.indexes:
                if index.unique and all(f"$.{f}'" in message for f in index.fields):
                    return DuplicateKeyError(index.fields)
        return DuplicateKeyError(("id",))

    @staticmethod
    def _row(row: tuple[str, int, str]) -> dict[str, Any]:
        doc = json.loads(row[2])
        doc["id"] = row[0]
        doc["_rev"] = row[1]
        return doc

    @staticmethod
    def _body(doc: dict[str, Any]) -> str:
        return _dumps({k: v for k, v in doc.items() if k not in ("id", "_rev")})

    def insert(self, doc: dict[str, Any], events: Sequence[OutboxItem] = ()) -> dict[str, Any]:
        self._ensure()
        try:
            with self.store.transaction() as conn:
                conn.execute(
                    f"INSERT INTO {self.table} (id, rev, doc) VALUES (?, 1, ?)",
                    (doc["id"], self._body(doc)),
                )
                self._write_text(conn, doc["id"], doc)
                self.store.add_outbox(conn, self.spec.name, doc["id"], events)
        except sqlite3.IntegrityError as exc:
            raise self._duplicate(exc) from exc
        return {**doc, "_rev": 1}

    def replace(self, doc: dict[str, Any], events: Sequence[OutboxItem] = ()) -> dict[str, Any] | None:
        self._ensure()
        rev = doc.get("_rev")
        try:
            with self.store.transaction() as conn:
                cursor = conn.execute(
                    f"UPDATE {self.table} SET rev = rev + 1, doc = ? WHERE id = ? AND rev = ?",
                    (self._body(doc), doc["id"], rev),
                )
                if cursor.rowcount != 1:
                    return None
                self._write_text(conn, doc["id"], doc)
                self.store.add_outbox(conn, self.spec.name, doc["id"], events)
        except sqlite3.IntegrityError as exc:
            raise self._duplicate(exc) from exc
        return {**doc, "_rev": rev + 1}

    def get(self, doc_id: str) -> dict[str, Any] | None:
        self._ensure()
        with self.store.read() as conn:
            row = conn.execute(
                f"SELECT id, rev, doc FROM {self.table} WHERE id = ?", (doc_id,)
            ).fetchone()
        return self._row(row) if row else None

    def _where(self, query: Query, words_first: bool = True) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for path, value in query.equals.items():
            if value is None:
                clauses.append(f"{_expr(path)} IS NULL")
            else:
                clauses.append(f"{_expr(path)} = ?")
                params.append(value)
        for path, values in query.any_of.items():
            values = list(values)
            if not values:
                clauses.append("0")
                continue
            clauses.append(f"{_expr(path)} IN ({', '.join('?' * len(values))})")
            params.extend(values)
        for path, value in query.contains.items():
            _expr(path)  # the path checked like any other
            # json_each of a scalar is that scalar: only a list holds values.
            clauses.append(f"(json_type(doc, '$.{path}') = 'array' AND EXISTS "
                           f"(SELECT 1 FROM json_each(doc, '$.{path}') WHERE json_each.value = ?))")
            params.append(value)
        for path, bound in query.less_than.items():
            clauses.append(f"{_expr(path)} < ?")
            params.append(bound)
        for path, bound in query.at_least.items():
            clauses.append(f"{_expr(path)} >= ?")
            params.append(bound)
        if query.search:
            paths, text = query.search
            escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            ors = [f"unicode_lower({_expr(p)}) LIKE ? ESCAPE '\\'" for p in paths]
            clauses.append("(" + " OR ".join(ors) + ")")
            params.extend([f"%{escaped}%"] * len(paths))
        if query.text and words_first:  # (else the words are a table of the source: ``_source``)
            clauses.insert(0, f"{self._fts} MATCH ?")
            params.insert(0, self._match(query))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _source(self, query: Query, words_first: bool = True) -> tuple[str, list[Any]]:
        """The collection, joined to its FTS5 table when the query asks for
        words, in the order ``words_first`` says (``CROSS JOIN`` fixes
        SQLite's join order; see ``_words_first``), and the parameters it
        takes: the words' matches, then each one's document by its keys; or
        the documents the other filters find through their index, each kept
        when the matches (found once, with their rank) hold it."""
        if text_index_for(self.spec, query) is None:
            return self.table, []
        if words_first:
            return (f"{self._fts} CROSS JOIN {self._fts_rows} ON {self._fts_rows}.fila = {self._fts}.rowid"
                    f" CROSS JOIN {self.table} ON {self.table}.id = {self._fts_rows}.doc_id"), []
        matches = (f"SELECT rowid AS fila, bm25({self._fts}, {self._weights}) AS relevancia FROM {self._fts}"
                   f" WHERE {self._fts} MATCH ?")
        return (f"{self.table} CROSS JOIN {self._fts_rows} ON {self._fts_rows}.doc_id = {self.table}.id"
                f" CROSS JOIN ({matches}) AS w ON w.fila = {self._fts_rows}.fila"), [self._match(query)]

    @property
    def _weights(self) -> str:
        return ", ".join(str(weight) for _, weight in self.spec.text.fields)

    @staticmethod
    def _match(query: Query) -> str:
        return phrases(query.text)

    @staticmethod
    def _filters(query: Query) -> Query:
        """``query`` without its words (and its order): what the other filters select."""
        return dataclasses.replace(query, text=(), sort=())

    def _words_first(self, conn: sqlite3.Connection, query: Query) -> bool:
        """Whether words and filters together are cheaper read from the words.

        Without statistics SQLite guesses, and guesses either way wrong: an
        agent's whole queue probed for a word, or every match of a common
        word parsed to find one customer's. So the two sizes are counted,
        each cheaply: the words' matches in the FTS5 table alone, and the
        documents the filters select through their index, counted no
        further than the matches. The smaller one drives."""
        if not query.text or self._words_only(query) or self.spec.text is None:
            return True
        matches = conn.execute(f"SELECT count(*) FROM {self._fts} WHERE {self._fts} MATCH ?",
                               (self._match(query),)).fetchone()[0]
        where, params = self._where(self._filters(query))
        filtered = conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM {self.table}{where} LIMIT ?)",
                                [*params, matches + 1]).fetchone()[0]
        return matches <= filtered

    def _select(self, query: Query, skip: int = 0, limit: int | None = None,
                words_first: bool = True) -> tuple[str, list[Any]]:
        where, params = self._where(query, words_first)
        source, source_params = self._source(query, words_first)
        params = [*source_params, *params]
        page = ""
        if limit is not None or skip:
            page = " LIMIT ? OFFSET ?"
            params += [-1 if limit is None else limit, skip]
        if query.ranked:
            # The page's rows ranked first, then only their documents read: a
            # sort that carried every match's whole document would cost what
            # all the matches weigh, not what the page does. Words alone are
            # ranked in the FTS5 table itself, with no lookup per match.
            if self._words_only(query):  # (always read from the words)
                # (Ties by id: each match's id is one lookup in the rowid map, not its document.)
                ranked = (f"SELECT f.doc_id AS doc_id, bm25({self._fts}, {self._weights}) AS relevancia"
                          f" FROM {self._fts} CROSS JOIN {self._fts_rows} AS f ON f.fila = {self._fts}.rowid")
            else:
                rank = f"bm25({self._fts}, {self._weights})" if words_first else "w.relevancia"
                ranked = f"SELECT {self.table}.id AS doc_id, {rank} AS relevancia FROM {source}"
            return (f"SELECT t.id, t.rev, t.doc FROM ({ranked}{where} ORDER BY relevancia, doc_id{page}) AS m"
                    f" CROSS JOIN {self.table} AS t ON t.id = m.doc_id ORDER BY m.relevancia, m.doc_id"), params
        order = [f"{_expr(p)} {'DESC' if d < 0 else 'ASC'}" for p, d in query.order]
        return f"SELECT {self.table}.id, rev, doc FROM {source}{where} ORDER BY {', '.join(order)}{page}", params

    def find(self, query: Query, skip: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        self._ensure()
        with self.store.read() as conn:
            sql, params = self._select(query, skip, limit, self._words_first(conn, query))
            rows = conn.execute(sql, params).fetchall()
        return [self._row(r) for r in rows]

    @staticmethod
    def _words_only(query: Query) -> bool:
        """A query of words and nothing else, which the FTS5 table answers
        alone: each of its rows is a stored document's (written and deleted
        in the document's transaction)."""
        return bool(query.text) and SQLiteCollection._filters(query) == Query()

    def count(self, query: Query) -> int:
        self._ensure()
        with self.store.read() as conn:
            if self._words_only(query) and text_index_for(self.spec, query):
                where, params = self._where(query)
                source = self._fts
            else:
                words_first = self._words_first(conn, query)
                where, params = self._where(query, words_first)
                source, source_params = self._source(query, words_first)
                params = [*source_params, *params]
            return conn.execute(f"SELECT count(*) FROM {source}{where}", params).fetchone()[0]

    def delete(self, doc_id: str) -> bool:
        self._ensure()
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM mail_outbox WHERE collection = ? AND doc_id = ?", (self.spec.name, doc_id))
            self._drop_text(conn, doc_id)
            return conn.execute(f"DELETE FROM {self.table} WHERE id = ?", (doc_id,)).rowcount == 1
