"""Building blocks of the application factories: the store, the token
verifier for the trusted issuers, and the readiness checks."""
from __future__ import annotations

from common.config import Settings
from common.http.health import CachedCheck
from common.messaging import check_broker
from common.storage import Store, open_store
from common.tokens import TokenIssuer, TrustedIssuer

CUSTOMER_ROLES = ("cliente",)
STAFF_ROLES = ("agente", "supervisor", "admin")


def build_store(settings: Settings) -> Store:
    return open_store(settings.storage_url)


def trusted_issuers(settings: Settings, local: TokenIssuer | None = None) -> list[TrustedIssuer]:
    """Customer tokens come from clientes, staff tokens from empleados; the
    local issuer (if this service is one) is trusted with its own key."""
    issuers = []
    for name, url, roles in (
        ("clientes", settings.clientes_jwks_url, CUSTOMER_ROLES),
        ("empleados", settings.empleados_jwks_url, STAFF_ROLES),
    ):
        if local is not None and local.issuer == name:
            issuers.append(TrustedIssuer.local(local, roles))
        else:
            issuers.append(TrustedIssuer.remote(name, url, roles))
    return issuers


def readiness_checks(settings: Settings, store: Store) -> dict:
    broker = CachedCheck(lambda: check_broker(settings.amqp_url, timeout=2.0), ttl=5.0)

    def storage() -> dict:
        store.ping()
        return {"tipo": "mongodb" if settings.mongo_url else "sqlite",
                "eventos_pendientes": len(store.pending_events(1000))}

    def rabbitmq() -> None:
        broker()

    return {"almacenamiento": storage, "rabbitmq": rabbitmq}
