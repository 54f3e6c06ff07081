"""Who issues which token: customer tokens come from clientes, staff tokens
from empleados. Every service that verifies tokens trusts them this way."""
from __future__ import annotations

from common.config import IssuerSettings, Settings
from common.tokens import TokenIssuer, TrustedIssuer, signing_key

from .roles import ROLES_CLIENTE, ROLES_PERSONAL

CLIENTES = "clientes"
EMPLEADOS = "empleados"


def trusted_issuers(settings: Settings, local: TokenIssuer | None = None) -> list[TrustedIssuer]:
    """Both issuers, each for its own roles; the local issuer (if this
    service is one) is trusted with its own key instead of its JWKS URL."""
    issuers = []
    for name, url, roles in (
        (CLIENTES, settings.clientes_jwks_url, ROLES_CLIENTE),
        (EMPLEADOS, settings.empleados_jwks_url, ROLES_PERSONAL),
    ):
        if local is not None and local.issuer == name:
            issuers.append(TrustedIssuer.local(local, roles))
        else:
            issuers.append(TrustedIssuer.remote(name, url, roles))
    return issuers


def issuer_for(settings: IssuerSettings, name: str) -> TokenIssuer:
    """The token issuer ``name`` (CLIENTES or EMPLEADOS) of the service that
    runs with ``settings``: its key from ``JWT_PRIVATE_KEY``, or else from
    (or created in) ``KEYS_DIR``."""
    private_key = settings.jwt_private_key.get_secret_value() if settings.jwt_private_key else None
    return TokenIssuer(signing_key(private_key, settings.keys_dir, settings.service_name), name,
                       settings.jwt_audience, settings.token_ttl_seconds)
