"""Drives a running Incidencias system over HTTP, for the end-to-end,
fault-injection and security suites and for the benchmark. Not product code:
no service imports it, and it never ships in an image.

- ``harness.system``: the launcher. ``System.launch(workdir)`` starts every
  line of Procfile.dev as its own process, on free ports, with a data
  directory and a RabbitMQ exchange of its own, on SQLite or, when the
  environment names MongoDB (``MONGO_URL`` or the services' ``*_MONGO_URL``),
  on a database per service; ``dispose()`` stops it and removes its queues,
  exchanges and the databases it made.
- ``harness.driver``: the HTTP driver. ``Driver(system.urls)`` signs up and
  logs in customers and staff, gets the admin's token, opens incidents and
  acts on them, reads both incident replicas and waits, with a deadline,
  until one shows what is expected.
- ``harness.mailbox``: ``Mailbox``, the SMTP server every system sends its
  mails to (``system.mailbox``): what arrived, ``wait_for`` a mail with a
  deadline, and for fault tests stopping, restarting and refusing (4xx/5xx).
- ``harness.polling``: ``wait_until`` (poll a condition until it holds or a
  deadline passes) and ``free_port``.
"""
from .driver import (
    CLIENTE_PASSWORD, EMPLEADO_PASSWORD, Account, Driver, incidencia_body, new_categoria, new_source_address,
    token_of,
)
from .mailbox import Mailbox
from .polling import free_port, wait_until
from .system import (
    ADMIN_EMAIL, ADMIN_PASSWORD, MONGO_VARIABLES, ROOT, SERVICE_PACKAGES, NoSQLiteFile, ProcessDied, System,
    procfile_lines,
)

__all__ = [
    "ADMIN_EMAIL", "ADMIN_PASSWORD", "CLIENTE_PASSWORD", "EMPLEADO_PASSWORD", "MONGO_VARIABLES", "ROOT",
    "SERVICE_PACKAGES", "Account", "Driver", "Mailbox", "NoSQLiteFile", "ProcessDied", "System",
    "free_port", "incidencia_body", "new_categoria", "new_source_address", "procfile_lines", "token_of",
    "wait_until",
]
