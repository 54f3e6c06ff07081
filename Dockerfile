# syntax=docker/dockerfile:1
#
# One image for the four Incidencias services and the portal. The command
# chooses what a container runs (see docker-compose.yml):
#   web:    gunicorn --config python:common.gunicorn_config "<service>.app:create_app()"
#   worker: python -m <service>.worker
# Without a command the container runs the web process of the service named
# by the SERVICE environment variable, like the Procfile on Heroku.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --requirement /tmp/requirements.txt

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="incidencias" \
      org.opencontainers.image.description="Incidencias services (clientes, empleados, incidencias_apertura, incidencias_resolucion) and the portal"

# An unprivileged account owns nothing but the data directory: the code and
# the virtual environment stay read-only for the running processes.
RUN groupadd --system --gid 10001 incidencias \
    && useradd --system --uid 10001 --gid incidencias --home-dir /var/lib/incidencias \
       --no-create-home --shell /usr/sbin/nologin incidencias \
    && install --directory --owner incidencias --group incidencias --mode 0700 \
       /var/lib/incidencias /var/lib/incidencias/data /var/lib/incidencias/keys

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
COPY requirements.txt ./
COPY common/ common/
COPY clientes/ clientes/
COPY empleados/ empleados/
COPY cuentas/ cuentas/
COPY incidencias_dominio/ incidencias_dominio/
COPY incidencias_replica/ incidencias_replica/
COPY incidencias_apertura/ incidencias_apertura/
COPY incidencias_resolucion/ incidencias_resolucion/
COPY portal/ portal/
RUN python -m compileall -q /app

# HOST: gunicorn listens on every interface of the container (the shared
# configuration's default is loopback, for `make run`): the gateway and the
# other containers reach it over the Compose network.
ENV PATH=/opt/venv/bin:$PATH \
    HOST=0.0.0.0 \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_DIR=/var/lib/incidencias/data \
    KEYS_DIR=/var/lib/incidencias/keys

USER 10001:10001
EXPOSE 8000 8001 8002 8003 8004
CMD ["sh", "-c", "exec gunicorn --config python:common.gunicorn_config \"${SERVICE:?set SERVICE to clientes, empleados, incidencias_apertura, incidencias_resolucion or portal}.app:create_app()\""]
