"""Gunicorn settings shared by every service (``--config python:common.gunicorn_config``).

Environment: HOST (default 127.0.0.1; 0.0.0.0 or [::] for every interface)
and PORT (default 8000), or BIND for the whole address of one process
(``[::]:8001``, ``unix:/run/x.sock``); WEB_CONCURRENCY (workers),
GUNICORN_WORKER_CLASS, GUNICORN_THREADS, GUNICORN_TIMEOUT;
GUNICORN_CONTROL_SOCKET (off unless set).

Loopback by default: ``make run`` on a laptop must not offer its services
(and the admin it prints) to the café's network. What is deployed says
where it listens: the image sets HOST=0.0.0.0 (its port is only reachable
through the container network), the Heroku Procfile too (the router needs
it), and the Ansible units pass ``--bind`` (which wins over this file).
"""
import multiprocessing
import os
import tempfile

from common.config import REQUEST_LINE_LIMIT

bind = os.environ.get("BIND") or f"{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() + 1)))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
limit_request_line = REQUEST_LINE_LIMIT
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = None
errorlog = "-"

# gunicorn's control socket (gunicornc) defaults to one path per user,
# ~/.gunicorn/gunicorn.ctl: every master on the machine (the five of
# `make run`, each test system's) would take it from the one before and
# remove it on exit. Nothing here uses it; an operator who wants it names
# one path per master.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

# Metrics from every worker are aggregated through files in this directory;
# it must be set before any worker imports prometheus_client.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="incidencias-metrics-")


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
